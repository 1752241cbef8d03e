/*
 * A fake libamd_smi.so for greenmeter's tests.
 *
 * Built at test time and loaded by the real `amdsmi` Python bindings (through ROCM_PATH
 * or LD_LIBRARY_PATH), so the tests exercise the bindings' own ctypes calls. The build
 * (__init__.py) generates two files from the installed bindings:
 *   stubs.c   every symbol the bindings bind at import, as a weak function returning
 *             AMDSMI_STATUS_NOT_SUPPORTED; the strong definitions below replace the few
 *             greenmeter uses;
 *   layout.h  the size and field offsets of each structure filled here, read from the
 *             bindings' ctypes definitions, so this file never restates their layout.
 *
 * Power is an analytic function of CLOCK_MONOTONIC (the clock behind time.monotonic()),
 * the same profiles as tests/fake_nvml (whose Profile class is their exact integral);
 * the energy accumulator is that integral since boot in ticks of COUNTER_RESOLUTION uJ.
 *
 * A physical GPU is a socket; its partitions (logical GPUs, processor handles) are
 * numbered one after another across sockets, as amdsmi_get_processor_handles() lists
 * them. Configuration, read from the environment at the first amdsmi_init:
 *   FAKE_AMDSMI_INIT_ERROR=<code>    amdsmi_init returns it (34 driver not loaded, 10 no permission)
 *   FAKE_AMDSMI_GPUS=<n>             physical GPUs (sockets), default 1, at most 8
 *   FAKE_AMDSMI_LOG=<path>           append "t call logical-index value" for every energy/power read
 *   FAKE_AMDSMI_PIDS_FILE=<path>     lines "<logical index> <pid>": GPU processes, re-read per call
 *   FAKE_AMDSMI_NOISY=1              write a line to file descriptor 1 when the library is
 *                                    loaded and at every amdsmi_init, as some builds log
 * and per physical GPU i:
 *   FAKE_AMDSMI_GPU<i>_PROFILE       const:W | square:LOW:HIGH:PERIOD | ramp:LOW:HIGH:PERIOD
 *   FAKE_AMDSMI_GPU<i>_NAME          market name (default "AMD Instinct MI300X")
 *   FAKE_AMDSMI_GPU<i>_PARTITIONS=n  n compute partitions (logical GPUs) on the socket
 *   FAKE_AMDSMI_GPU<i>_NO_ENERGY=1   amdsmi_get_energy_count returns NOT_SUPPORTED
 *   FAKE_AMDSMI_GPU<i>_COUNTER_BITS  the accumulator wraps at 2^bits (default 64)
 *   FAKE_AMDSMI_GPU<i>_WRAP_AFTER_S=s  offset the accumulator so that it wraps s seconds after
 *                                    the first amdsmi_init (COUNTER_BITS then defaults to 32)
 *   FAKE_AMDSMI_GPU<i>_RESET_AFTER_S=s the accumulator restarts from 0 s seconds after the
 *                                    first amdsmi_init
 *   FAKE_AMDSMI_GPU<i>_POWER_FIELD   current (MI300: current_socket_power) or average
 *                                    (MI200: average_socket_power, current is N/A)
 *   FAKE_AMDSMI_GPU<i>_SECONDARY_DIE=1  the second die of an MI250X: 0 W and 0 J
 *   FAKE_AMDSMI_GPU<i>_UTIL=<pct>    gfx_activity (default 50)
 *   FAKE_AMDSMI_GPU<i>_VRAM_USED_MB  VRAM in use (default 2048)
 *   FAKE_AMDSMI_GPU<i>_NO_VIOLATION=1  gpu_metrics without the violation accumulators (N/A,
 *                                    as before MI300)
 *   FAKE_AMDSMI_GPU<i>_PHASES        a workload over time, overriding PROFILE, UTIL and
 *                                    VRAM_USED_MB: phases separated by ',', each
 *                                    SECONDS:WATTS:GFX_ACTIVITY_PCT:VRAM_USED_MB[:VIOLATION]
 *                                    (VIOLATION: 1 power (PPT), 2 socket thermal, 3 both), from
 *                                    FAKE_AMDSMI_EPOCH (a CLOCK_MONOTONIC time; default: the
 *                                    process's first amdsmi_init); the first phase holds
 *                                    before it, the last one after the end. The accumulator
 *                                    is the exact integral of the phases' power since t = 0.
 * gpu_metrics (amdsmi_get_gpu_metrics_info) has the MI300 violation accumulators: the
 * firmware's sample count at 1 kHz since t = 0, and the samples in PPT or thermal violation.
 * Secondary partitions report the socket's energy and power too (the worst case for
 * double counting); greenmeter must count the socket once.
 */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"

#define AMDSMI_STATUS_SUCCESS 0
#define AMDSMI_STATUS_INVAL 1
#define AMDSMI_STATUS_NOT_SUPPORTED 2
#define AMDSMI_STATUS_NOT_INIT 32

#define MAX_GPUS 8
#define MAX_PARTITIONS 8
#define COUNTER_RESOLUTION_UJ 15.3f
#define NOT_AVAILABLE_16 0xFFFF

#define MAX_PHASES 32

enum profile_kind { PROFILE_CONST, PROFILE_SQUARE, PROFILE_RAMP };

struct phase {
    double seconds, watts;
    unsigned util_pct;
    unsigned vram_used_mb;
    unsigned violation;
};

/* A processor handle points at one of these. */
struct logical {
    int socket;
    int partition;
    int index;
};

struct fake_gpu {
    struct logical part[MAX_PARTITIONS];
    int partitions;
    char name[128];
    enum profile_kind kind;
    double low_w, high_w, period_s;
    int no_energy;
    int counter_bits;
    double reset_at_s;
    double wrap_at_s;
    int average_power;
    int secondary_die;
    int no_violation;
    unsigned util_pct;
    unsigned vram_used_mb;
    struct phase phases[MAX_PHASES];
    int phase_count;
};

static struct fake_gpu gpus[MAX_GPUS];
static int gpu_count;
static int configured;
static int initialised;
static int init_error;
static int log_fd = -1;
static const char *pids_file;
static double epoch_s = -1.0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *gpu_env(int i, const char *key)
{
    char name[64];
    snprintf(name, sizeof name, "FAKE_AMDSMI_GPU%d_%s", i, key);
    return getenv(name);
}

static double gpu_env_double(int i, const char *key, double fallback)
{
    const char *v = gpu_env(i, key);
    return v && *v ? atof(v) : fallback;
}

static void parse_profile(struct fake_gpu *g, const char *spec)
{
    g->kind = PROFILE_CONST;
    g->low_w = g->high_w = 300.0;
    g->period_s = 1.0;
    if (!spec)
        return;
    if (sscanf(spec, "square:%lf:%lf:%lf", &g->low_w, &g->high_w, &g->period_s) == 3)
        g->kind = PROFILE_SQUARE;
    else if (sscanf(spec, "ramp:%lf:%lf:%lf", &g->low_w, &g->high_w, &g->period_s) == 3)
        g->kind = PROFILE_RAMP;
    else if (sscanf(spec, "const:%lf", &g->low_w) == 1)
        g->high_w = g->low_w;
}

static void parse_phases(struct fake_gpu *g, const char *spec)
{
    const char *p = spec;
    g->phase_count = 0;
    while (p && *p && g->phase_count < MAX_PHASES) {
        struct phase *ph = &g->phases[g->phase_count];
        ph->violation = 0;
        if (sscanf(p, "%lf:%lf:%u:%u:%u", &ph->seconds, &ph->watts, &ph->util_pct,
                   &ph->vram_used_mb, &ph->violation) < 4)
            break;
        g->phase_count++;
        p = strchr(p, ',');
        if (p)
            p++;
    }
}

static void configure(void)
{
    const char *v;
    int index = 0;
    configured = 1;
    v = getenv("FAKE_AMDSMI_INIT_ERROR");
    init_error = v ? atoi(v) : 0;
    v = getenv("FAKE_AMDSMI_GPUS");
    gpu_count = v ? atoi(v) : 1;
    if (gpu_count < 0)
        gpu_count = 0;
    if (gpu_count > MAX_GPUS)
        gpu_count = MAX_GPUS;
    v = getenv("FAKE_AMDSMI_LOG");
    if (v && *v)
        log_fd = open(v, O_WRONLY | O_APPEND | O_CREAT, 0644);
    pids_file = getenv("FAKE_AMDSMI_PIDS_FILE");
    v = getenv("FAKE_AMDSMI_EPOCH");
    epoch_s = v && *v ? atof(v) : now_s();
    for (int i = 0; i < gpu_count; i++) {
        struct fake_gpu *g = &gpus[i];
        v = gpu_env(i, "NAME");
        snprintf(g->name, sizeof g->name, "%s", v ? v : "AMD Instinct MI300X");
        parse_profile(g, gpu_env(i, "PROFILE"));
        g->partitions = (int)gpu_env_double(i, "PARTITIONS", 1);
        if (g->partitions < 1)
            g->partitions = 1;
        if (g->partitions > MAX_PARTITIONS)
            g->partitions = MAX_PARTITIONS;
        for (int k = 0; k < g->partitions; k++) {
            g->part[k].socket = i;
            g->part[k].partition = k;
            g->part[k].index = index++;
        }
        g->no_energy = (int)gpu_env_double(i, "NO_ENERGY", 0);
        g->wrap_at_s = gpu_env_double(i, "WRAP_AFTER_S", -1);
        g->counter_bits = (int)gpu_env_double(i, "COUNTER_BITS", g->wrap_at_s >= 0 ? 32 : 64);
        if (g->wrap_at_s >= 0)
            g->wrap_at_s += now_s();
        g->reset_at_s = gpu_env_double(i, "RESET_AFTER_S", -1);
        if (g->reset_at_s >= 0)
            g->reset_at_s += now_s();
        v = gpu_env(i, "POWER_FIELD");
        g->average_power = v && strcmp(v, "average") == 0;
        g->secondary_die = (int)gpu_env_double(i, "SECONDARY_DIE", 0);
        g->no_violation = (int)gpu_env_double(i, "NO_VIOLATION", 0);
        g->util_pct = (unsigned)gpu_env_double(i, "UTIL", 50);
        g->vram_used_mb = (unsigned)gpu_env_double(i, "VRAM_USED_MB", 2048);
        parse_phases(g, gpu_env(i, "PHASES"));
    }
}

/* The phase in force at time t (the first before the epoch, the last after the end). */
static const struct phase *phase_at(const struct fake_gpu *g, double t)
{
    double start = epoch_s;
    for (int k = 0; k < g->phase_count; k++) {
        start += g->phases[k].seconds;
        if (t < start)
            return &g->phases[k];
    }
    return &g->phases[g->phase_count - 1];
}

/* Exact integral of the phases' power from 0 to t. */
static double phases_energy_j(const struct fake_gpu *g, double t)
{
    double start = epoch_s, joules;
    if (t <= epoch_s)
        return g->phases[0].watts * t;
    joules = g->phases[0].watts * epoch_s;
    for (int k = 0; k < g->phase_count; k++) {
        double end = start + g->phases[k].seconds;
        if (k == g->phase_count - 1 || t < end)
            return joules + g->phases[k].watts * (t - start);
        joules += g->phases[k].watts * g->phases[k].seconds;
        start = end;
    }
    return joules;
}

/* Seconds from 0 to t spent in phases whose violation mask has `bit`. */
static double violation_s(const struct fake_gpu *g, double t, unsigned bit)
{
    double start = epoch_s, seconds;
    if (!g->phase_count)
        return 0.0;
    if (t <= epoch_s)
        return g->phases[0].violation & bit ? t : 0.0;
    seconds = g->phases[0].violation & bit ? epoch_s : 0.0;
    for (int k = 0; k < g->phase_count; k++) {
        double end = start + g->phases[k].seconds;
        int in = (g->phases[k].violation & bit) != 0;
        if (k == g->phase_count - 1 || t < end)
            return seconds + (in ? t - start : 0.0);
        seconds += in ? g->phases[k].seconds : 0.0;
        start = end;
    }
    return seconds;
}

/* Power (W) at time t: HIGH in the first half of each square period; ramp LOW -> HIGH. */
static double power_w(const struct fake_gpu *g, double t)
{
    double phase = fmod(t, g->period_s);
    if (g->phase_count)
        return phase_at(g, t)->watts;
    if (g->kind == PROFILE_SQUARE)
        return phase < g->period_s / 2 ? g->high_w : g->low_w;
    if (g->kind == PROFILE_RAMP)
        return g->low_w + (g->high_w - g->low_w) * phase / g->period_s;
    return g->low_w;
}

/* Exact integral of power_w from 0 to t, in joules (fake_nvml.Profile.energy_j). */
static double energy_j(const struct fake_gpu *g, double t)
{
    if (g->phase_count)
        return phases_energy_j(g, t);
    double periods = floor(t / g->period_s);
    double phase = t - periods * g->period_s;
    double half = g->period_s / 2;
    double whole = periods * g->period_s * (g->low_w + g->high_w) / 2;
    if (g->kind == PROFILE_SQUARE)
        return phase < half ? whole + g->high_w * phase
                            : whole + g->high_w * half + g->low_w * (phase - half);
    if (g->kind == PROFILE_RAMP)
        return whole + g->low_w * phase
               + (g->high_w - g->low_w) * phase * phase / (2 * g->period_s);
    return g->low_w * t;
}

static void log_read(const char *call, int index, unsigned long long value, double t)
{
    char line[128];
    int n;
    if (log_fd < 0)
        return;
    n = snprintf(line, sizeof line, "%.9f %s %d %llu\n", t, call, index, value);
    if (write(log_fd, line, (size_t)n) < 0) {
        /* a lost log line fails the test that reads it */
    }
}

static struct logical *logical_of(void *handle)
{
    for (int i = 0; i < gpu_count; i++)
        for (int k = 0; k < gpus[i].partitions; k++)
            if (handle == &gpus[i].part[k])
                return handle;
    return NULL;
}

#define CHECK_HANDLE(handle, lg)                                                          \
    struct logical *lg = logical_of(handle);                                              \
    if (!initialised)                                                                     \
        return AMDSMI_STATUS_NOT_INIT;                                                    \
    if (!lg)                                                                              \
        return AMDSMI_STATUS_INVAL;

#define FIELD(ptr, off, type) (*(type *)((char *)(ptr) + (off)))

static void say_on_stdout(const char *line)
{
    const char *noisy = getenv("FAKE_AMDSMI_NOISY");
    if (noisy && *noisy == '1' && write(1, line, strlen(line)) < 0) {
        /* nothing to do: the test checks what reached stdout */
    }
}

__attribute__((constructor)) static void loaded(void)
{
    say_on_stdout("fake libamd_smi.so: loaded\n");
}

int amdsmi_init(uint64_t flags)
{
    (void)flags;
    say_on_stdout("fake libamd_smi.so: amdsmi_init\n");
    if (!configured)
        configure();
    if (init_error)
        return init_error;
    initialised++;
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_shut_down(void)
{
    if (initialised > 0)
        initialised--;
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_socket_handles(uint32_t *count, void **handles)
{
    if (!initialised)
        return AMDSMI_STATUS_NOT_INIT;
    if (!count)
        return AMDSMI_STATUS_INVAL;
    if (handles) {
        uint32_t n = *count < (uint32_t)gpu_count ? *count : (uint32_t)gpu_count;
        for (uint32_t i = 0; i < n; i++)
            handles[i] = &gpus[i];
    }
    *count = (uint32_t)gpu_count;
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_processor_handles(void *socket, uint32_t *count, void **handles)
{
    struct fake_gpu *g = socket;
    if (!initialised)
        return AMDSMI_STATUS_NOT_INIT;
    if (!count || g < gpus || g >= gpus + gpu_count)
        return AMDSMI_STATUS_INVAL;
    if (handles) {
        uint32_t n = *count < (uint32_t)g->partitions ? *count : (uint32_t)g->partitions;
        for (uint32_t k = 0; k < n; k++)
            handles[k] = &g->part[k];
    }
    *count = (uint32_t)g->partitions;
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_device_uuid(void *handle, uint32_t *length, char *uuid)
{
    CHECK_HANDLE(handle, lg)
    if (!length || !uuid || *length < 37)
        return AMDSMI_STATUS_INVAL;
    snprintf(uuid, *length, "fa4e0%d0%d-0000-1000-8000-000000000000", lg->socket, lg->partition);
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_enumeration_info(void *handle, void *info)
{
    CHECK_HANDLE(handle, lg)
    memset(info, 0, SIZE_enumeration);
    FIELD(info, OFF_enumeration_hip_id, uint32_t) = (uint32_t)lg->index;
    FIELD(info, OFF_enumeration_hsa_id, uint32_t) = (uint32_t)lg->index + 1;
    FIELD(info, OFF_enumeration_drm_render, uint32_t) = 128 + (uint32_t)lg->index;
    FIELD(info, OFF_enumeration_drm_card, uint32_t) = (uint32_t)lg->index;
    snprintf((char *)info + OFF_enumeration_hip_uuid, LEN_enumeration_hip_uuid,
             "GPU-fa4e0%d0%d00000000", lg->socket, lg->partition);
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_device_bdf(void *handle, uint64_t *bdf)
{
    CHECK_HANDLE(handle, lg)
    /* One PCIe bus per socket; the function number carries the partition. */
    *bdf = ((uint64_t)(0xc1 + 8 * lg->socket) << BDF_SHIFT_bus_number)
           | ((uint64_t)lg->partition << BDF_SHIFT_function_number);
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_kfd_info(void *handle, void *info)
{
    CHECK_HANDLE(handle, lg)
    memset(info, 0, SIZE_kfd);
    FIELD(info, OFF_kfd_kfd_id, uint64_t) = 1000 + (uint64_t)lg->index;
    FIELD(info, OFF_kfd_node_id, uint32_t) = (uint32_t)lg->index + 1;
    FIELD(info, OFF_kfd_current_partition_id, uint32_t) = (uint32_t)lg->partition;
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_asic_info(void *handle, void *info)
{
    CHECK_HANDLE(handle, lg)
    memset(info, 0, SIZE_asic);
    snprintf((char *)info + OFF_asic_market_name, LEN_asic_market_name, "%s",
             gpus[lg->socket].name);
    snprintf((char *)info + OFF_asic_vendor_name, LEN_asic_vendor_name, "Advanced Micro Devices Inc.");
    FIELD(info, OFF_asic_vendor_id, uint32_t) = 0x1002;
    FIELD(info, OFF_asic_device_id, uint64_t) = 0x74a1;
    snprintf((char *)info + OFF_asic_asic_serial, LEN_asic_asic_serial, "fa4e0%d0000000000",
             lg->socket);
    FIELD(info, OFF_asic_oam_id, uint32_t) = (uint32_t)lg->socket;
    FIELD(info, OFF_asic_num_of_compute_units, uint32_t) = 304 / (uint32_t)gpus[lg->socket].partitions;
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_driver_info(void *handle, void *info)
{
    CHECK_HANDLE(handle, lg)
    (void)lg;
    memset(info, 0, SIZE_driver);
    snprintf((char *)info + OFF_driver_driver_name, LEN_driver_driver_name, "amdgpu");
    snprintf((char *)info + OFF_driver_driver_version, LEN_driver_driver_version, "6.10.5");
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_compute_partition(void *handle, char *partition, uint32_t length)
{
    static const char *modes[] = {"SPX", "DPX", "TPX", "QPX", "CPX", "CPX", "CPX", "CPX"};
    CHECK_HANDLE(handle, lg)
    if (!partition || length == 0)
        return AMDSMI_STATUS_INVAL;
    snprintf(partition, length, "%s", modes[gpus[lg->socket].partitions - 1]);
    return AMDSMI_STATUS_SUCCESS;
}

static unsigned long long ticks_at(const struct fake_gpu *g, double t)
{
    double joules = energy_j(g, t);
    double ticks;
    if (g->reset_at_s >= 0 && t >= g->reset_at_s)
        joules -= energy_j(g, g->reset_at_s);
    ticks = floor(joules * 1e6 / (double)COUNTER_RESOLUTION_UJ);
    if (g->wrap_at_s >= 0) /* the counter reaches 2^bits exactly at wrap_at_s */
        ticks += ldexp(1.0, g->counter_bits)
                 - floor(energy_j(g, g->wrap_at_s) * 1e6 / (double)COUNTER_RESOLUTION_UJ);
    if (g->counter_bits < 64)
        ticks = fmod(ticks, ldexp(1.0, g->counter_bits));
    return (unsigned long long)ticks;
}

int amdsmi_get_energy_count(void *handle, uint64_t *accumulator, float *resolution,
                            uint64_t *timestamp)
{
    double t;
    unsigned long long ticks;
    CHECK_HANDLE(handle, lg)
    struct fake_gpu *g = &gpus[lg->socket];
    if (g->no_energy)
        return AMDSMI_STATUS_NOT_SUPPORTED;
    t = now_s();
    ticks = g->secondary_die ? 0 : ticks_at(g, t);
    *accumulator = ticks;
    *resolution = COUNTER_RESOLUTION_UJ;
    *timestamp = (uint64_t)(t * 1e9);
    log_read("energy", lg->index, ticks, t);
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_power_info(void *handle, void *info)
{
    double t;
    uint32_t watts;
    CHECK_HANDLE(handle, lg)
    struct fake_gpu *g = &gpus[lg->socket];
    t = now_s();
    watts = g->secondary_die ? 0 : (uint32_t)lround(power_w(g, t));
    memset(info, 0, SIZE_power);
    FIELD(info, OFF_power_socket_power, uint64_t) = watts;
    FIELD(info, OFF_power_current_socket_power, uint32_t) = g->average_power ? NOT_AVAILABLE_16 : watts;
    FIELD(info, OFF_power_average_socket_power, uint32_t) = g->average_power ? watts : NOT_AVAILABLE_16;
    FIELD(info, OFF_power_gfx_voltage, uint64_t) = NOT_AVAILABLE_16;
    FIELD(info, OFF_power_soc_voltage, uint64_t) = NOT_AVAILABLE_16;
    FIELD(info, OFF_power_mem_voltage, uint64_t) = NOT_AVAILABLE_16;
    FIELD(info, OFF_power_power_limit, uint32_t) = 750;
    log_read("power", lg->index, watts, t);
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_power_cap_info(void *handle, uint32_t sensor, void *info)
{
    CHECK_HANDLE(handle, lg)
    (void)sensor;
    (void)lg;
    memset(info, 0, SIZE_power_cap);
    FIELD(info, OFF_power_cap_power_cap, uint64_t) = 750000000ULL; /* microwatts */
    FIELD(info, OFF_power_cap_default_power_cap, uint64_t) = 750000000ULL;
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_activity(void *handle, void *usage)
{
    CHECK_HANDLE(handle, lg)
    memset(usage, 0, SIZE_engine);
    const struct fake_gpu *g = &gpus[lg->socket];
    FIELD(usage, OFF_engine_gfx_activity, uint32_t) =
        g->phase_count ? phase_at(g, now_s())->util_pct : g->util_pct;
    FIELD(usage, OFF_engine_umc_activity, uint32_t) = 10;
    FIELD(usage, OFF_engine_mm_activity, uint32_t) = NOT_AVAILABLE_16;
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_vram_usage(void *handle, void *usage)
{
    CHECK_HANDLE(handle, lg)
    memset(usage, 0, SIZE_vram);
    FIELD(usage, OFF_vram_vram_total, uint32_t) = 196592 / (uint32_t)gpus[lg->socket].partitions;
    const struct fake_gpu *g = &gpus[lg->socket];
    FIELD(usage, OFF_vram_vram_used, uint32_t) =
        g->phase_count ? phase_at(g, now_s())->vram_used_mb : g->vram_used_mb;
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_process_list(void *handle, uint32_t *max_processes, void *list)
{
    FILE *f;
    int index, pid;
    uint32_t found = 0;
    CHECK_HANDLE(handle, lg)
    if (!max_processes)
        return AMDSMI_STATUS_INVAL;
    f = pids_file ? fopen(pids_file, "r") : NULL;
    if (f) {
        while (fscanf(f, "%d %d", &index, &pid) == 2) {
            if (index != lg->index)
                continue;
            if (list && found < *max_processes) {
                char *entry = (char *)list + (size_t)found * SIZE_proc;
                memset(entry, 0, SIZE_proc);
                snprintf(entry + OFF_proc_name, LEN_proc_name, "python3");
                FIELD(entry, OFF_proc_pid, uint32_t) = (uint32_t)pid;
            }
            found++;
        }
        fclose(f);
    }
    if (list && found > *max_processes)
        found = *max_processes;
    *max_processes = found;
    return AMDSMI_STATUS_SUCCESS;
}

int amdsmi_get_gpu_metrics_info(void *handle, void *metrics)
{
    double t = now_s();
    CHECK_HANDLE(handle, lg)
    const struct fake_gpu *g = &gpus[lg->socket];
    /* Other fields 0: the bindings read them as zeros, which greenmeter does not use. */
    memset(metrics, 0, SIZE_metrics);
    if (g->no_violation) {
        FIELD(metrics, OFF_metrics_accumulation_counter, uint64_t) = UINT64_MAX;
        FIELD(metrics, OFF_metrics_ppt_residency_acc, uint64_t) = UINT64_MAX;
        FIELD(metrics, OFF_metrics_socket_thm_residency_acc, uint64_t) = UINT64_MAX;
        return AMDSMI_STATUS_SUCCESS;
    }
    FIELD(metrics, OFF_metrics_accumulation_counter, uint64_t) = (uint64_t)floor(t * 1000);
    FIELD(metrics, OFF_metrics_ppt_residency_acc, uint64_t) =
        (uint64_t)floor(violation_s(g, t, 1) * 1000);
    FIELD(metrics, OFF_metrics_socket_thm_residency_acc, uint64_t) =
        (uint64_t)floor(violation_s(g, t, 2) * 1000);
    return AMDSMI_STATUS_SUCCESS;
}
