"""What differs between commands: the labels ``report --group-by command`` and the HTML
comparison show."""

from __future__ import annotations

from greenmeter.reports.command_labels import label_commands

VENV = "/home/alice/projects/mnist/.venv/bin/python"


def test_the_shared_start_is_elided_but_not_the_option_whose_value_differs():
    labels = label_commands(
        [[VENV, "train.py", "--batch-size", "32"], [VENV, "train.py", "--batch-size", "256"]]
    )
    assert labels.labels == ["\u2026 --batch-size 32", "\u2026 --batch-size 256"]
    assert labels.prefix == f"{VENV} train.py" and labels.suffix == ""


def test_every_command_keeps_a_word_and_shell_text_is_split_as_a_shell_would():
    assert label_commands([[VENV, "t.py"], [VENV, "t.py", "--fast"]]).labels == [
        "\u2026 t.py",
        "\u2026 t.py --fast",
    ]
    assert label_commands(["python 'my script.py' -n 3", "python 'my script.py' -n 4"]).labels == [
        "\u2026 -n 3",
        "\u2026 -n 4",
    ]
    # A multi-line `python -c` script reads as one line, quoted as the shell needs.
    assert label_commands([["py", "-c", "import a\nprint(1)"], ["py", "-c", "pass"]]).labels == [
        "\u2026 -c 'import a print(1)'",
        "\u2026 -c pass",
    ]


def test_a_shared_end_is_elided_only_when_a_label_would_not_fit():
    long = ["--data", "/datasets/imagenet/train/shards/of/a/very/long/path"]
    commands = [[VENV, "train.py", "--lr", lr, "--epochs", "3", *long] for lr in ("0.1", "0.01")]
    assert label_commands(commands, limit=90).labels[0] == (
        "\u2026 --lr 0.1 --epochs 3 --data /datasets/imagenet/train/shards/of/a/very/long/path"
    )
    short = label_commands(commands, limit=40)
    assert short.labels == ["\u2026 --lr 0.1 \u2026", "\u2026 --lr 0.01 \u2026"]
    assert short.suffix == "--epochs 3 " + " ".join(long)


def test_one_command_or_different_programs_keep_their_words_with_a_long_path_shortened():
    same = label_commands([[VENV, "train.py", "--epochs", "3"]] * 2, limit=40)
    assert same.labels == ["\u2026/python train.py --epochs 3"] * 2 and same.prefix == ""
    assert label_commands([["python3", "a.py"], ["pypy3", "a.py"]]).labels == [
        "python3 a.py",
        "pypy3 a.py",
    ]
    assert label_commands([["x" * 100], ["y"]], limit=10).labels == ["x" * 9 + "\u2026", "y"]
