/*
 * A fake libnvidia-ml.so.1 for greenmeter's tests.
 *
 * Built at test time (cc -shared -fPIC) and loaded by the real pynvml module through
 * LD_LIBRARY_PATH, so the tests exercise the same ctypes calls as on a real driver.
 * It implements only the NVML entry points greenmeter (and pynvml's init) resolve.
 *
 * Power is an analytic function of CLOCK_MONOTONIC (the clock behind Python's
 * time.monotonic()), so a test can compute the exact energy over any window, and the
 * energy counter is that function's exact integral since boot (t = 0). Because the
 * clock is system-wide, every process sees the same counter.
 *
 * Configuration, read from the environment at the first nvmlInit:
 *   FAKE_NVML_INIT_ERROR=<code>     nvmlInit returns this NVML error (9 = driver not loaded)
 *   FAKE_NVML_GPUS=<n>              number of GPUs (default 1, at most 8)
 *   FAKE_NVML_DRIVER=<version>      driver version string (default 550.54.15)
 *   FAKE_NVML_LOG=<path>            append "t call gpu value" for every energy/power read
 *   FAKE_NVML_PIDS_FILE=<path>      lines "<gpu> <pid>": compute processes, re-read per call
 * and per GPU i:
 *   FAKE_NVML_GPU<i>_PROFILE        const:W | square:LOW:HIGH:PERIOD | ramp:LOW:HIGH:PERIOD
 *                                   (square: HIGH in the first half of each period;
 *                                   ramp: sawtooth from LOW to HIGH over each period)
 *   FAKE_NVML_GPU<i>_NO_ENERGY=1    the energy counter returns NOT_SUPPORTED (pre-Volta)
 *   FAKE_NVML_GPU<i>_ENERGY_SCALE=x the counter reads x times the true integral
 *   FAKE_NVML_GPU<i>_LOST_AFTER_S=s every call on the GPU fails with GPU_IS_LOST once s
 *                                   seconds have passed since the first nvmlInit
 *   FAKE_NVML_GPU<i>_NAME, _UUID    identity (defaults "Fake GPU <i>", GPU-fa4e0000-...-<i>)
 *   FAKE_NVML_GPU<i>_MIG=<n>        n MIG slices, UUIDs MIG-fa4e000<i>-0000-0000-0000-00000000000<k>
 *   FAKE_NVML_GPU<i>_UTIL=<pct>     GPU utilisation (default 50)
 *   FAKE_NVML_GPU<i>_MEM_USED_MIB   memory used (default 1024)
 *   FAKE_NVML_GPU<i>_POWER_LIMIT_W  power management limit (default 400)
 *   FAKE_NVML_GPU<i>_MEM_TOTAL_MIB  memory size (default 81920)
 *   FAKE_NVML_GPU<i>_THROTTLE=<mask> clock-throttle reasons bitmask (default 0)
 *   FAKE_NVML_GPU<i>_PHASES         a workload over time, overriding PROFILE, UTIL,
 *                                   MEM_USED_MIB and THROTTLE: phases separated by ',',
 *                                   each SECONDS:WATTS:UTIL_PCT:MEM_MIB:THROTTLE_MASK,
 *                                   from FAKE_NVML_EPOCH (a CLOCK_MONOTONIC time; default:
 *                                   the process's first nvmlInit); the first phase holds
 *                                   before it, the last one after the end. The counter is
 *                                   the exact integral of the phases' power since t = 0.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_ERROR_UNKNOWN 999

#define MAX_GPUS 8
#define MAX_MIG 7
#define MAX_PROCS 64
#define MAX_PHASES 32

struct phase {
    double seconds, watts;
    unsigned util_pct;
    unsigned long long mem_used_b;
    unsigned long long throttle;
};

enum profile_kind { PROFILE_CONST, PROFILE_SQUARE, PROFILE_RAMP };

/* A device handle points at one of these; MIG slices have their own entries. */
struct fake_device {
    int index;
    int is_mig;
    int parent;
    char uuid[96];
};

struct fake_gpu {
    struct fake_device dev;
    struct fake_device mig[MAX_MIG];
    int mig_count;
    char name[96];
    enum profile_kind kind;
    double low_w, high_w, period_s;
    int no_energy;
    double energy_scale;
    double lost_after_s;
    unsigned util_pct;
    unsigned long long mem_used_b;
    unsigned long long mem_total_b;
    unsigned long long throttle;
    unsigned power_limit_mw;
    struct phase phases[MAX_PHASES];
    int phase_count;
};

static struct fake_gpu gpus[MAX_GPUS];
static int gpu_count;
static int init_count;
static int configured;
static double init_time_s;
static int init_error;
static char driver_version[80] = "550.54.15";
static int log_fd = -1;
static double epoch_s = -1.0;
static const char *pids_file;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *gpu_env(int i, const char *key)
{
    char name[64];
    snprintf(name, sizeof name, "FAKE_NVML_GPU%d_%s", i, key);
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
    g->low_w = g->high_w = 100.0;
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
        double mem_mib;
        if (sscanf(p, "%lf:%lf:%u:%lf:%llu", &ph->seconds, &ph->watts, &ph->util_pct, &mem_mib,
                   &ph->throttle) != 5)
            break;
        ph->mem_used_b = (unsigned long long)(mem_mib * 1048576.0);
        g->phase_count++;
        p = strchr(p, ',');
        if (p)
            p++;
    }
}

static void configure(void)
{
    const char *v;
    configured = 1;
    v = getenv("FAKE_NVML_INIT_ERROR");
    init_error = v ? atoi(v) : 0;
    v = getenv("FAKE_NVML_GPUS");
    gpu_count = v ? atoi(v) : 1;
    if (gpu_count < 0)
        gpu_count = 0;
    if (gpu_count > MAX_GPUS)
        gpu_count = MAX_GPUS;
    v = getenv("FAKE_NVML_DRIVER");
    if (v)
        snprintf(driver_version, sizeof driver_version, "%s", v);
    v = getenv("FAKE_NVML_LOG");
    if (v && *v)
        log_fd = open(v, O_WRONLY | O_APPEND | O_CREAT, 0644);
    pids_file = getenv("FAKE_NVML_PIDS_FILE");
    v = getenv("FAKE_NVML_EPOCH");
    if (v && *v)
        epoch_s = atof(v);

    for (int i = 0; i < gpu_count; i++) {
        struct fake_gpu *g = &gpus[i];
        g->dev.index = i;
        g->dev.parent = i;
        v = gpu_env(i, "UUID");
        if (v)
            snprintf(g->dev.uuid, sizeof g->dev.uuid, "%s", v);
        else
            snprintf(g->dev.uuid, sizeof g->dev.uuid, "GPU-fa4e0000-0000-0000-0000-00000000000%d", i);
        v = gpu_env(i, "NAME");
        if (v)
            snprintf(g->name, sizeof g->name, "%s", v);
        else
            snprintf(g->name, sizeof g->name, "Fake GPU %d", i);
        parse_profile(g, gpu_env(i, "PROFILE"));
        g->no_energy = gpu_env_double(i, "NO_ENERGY", 0) != 0;
        g->energy_scale = gpu_env_double(i, "ENERGY_SCALE", 1.0);
        g->lost_after_s = gpu_env_double(i, "LOST_AFTER_S", -1.0);
        g->util_pct = (unsigned)gpu_env_double(i, "UTIL", 50);
        g->mem_used_b = (unsigned long long)(gpu_env_double(i, "MEM_USED_MIB", 1024) * 1048576.0);
        g->power_limit_mw = (unsigned)(gpu_env_double(i, "POWER_LIMIT_W", 400) * 1000.0);
        g->mem_total_b = (unsigned long long)(gpu_env_double(i, "MEM_TOTAL_MIB", 81920) * 1048576.0);
        g->throttle = (unsigned long long)gpu_env_double(i, "THROTTLE", 0);
        parse_phases(g, gpu_env(i, "PHASES"));
        g->mig_count = (int)gpu_env_double(i, "MIG", 0);
        if (g->mig_count > MAX_MIG)
            g->mig_count = MAX_MIG;
        for (int k = 0; k < g->mig_count; k++) {
            g->mig[k].index = k;
            g->mig[k].is_mig = 1;
            g->mig[k].parent = i;
            snprintf(g->mig[k].uuid, sizeof g->mig[k].uuid,
                     "MIG-fa4e000%d-0000-0000-0000-00000000000%d", i, k);
        }
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

/* Power in watts at time t. */
static double power_w(const struct fake_gpu *g, double t)
{
    double phase = fmod(t, g->period_s);
    if (g->phase_count)
        return phase_at(g, t)->watts;
    switch (g->kind) {
    case PROFILE_SQUARE:
        return phase < g->period_s / 2 ? g->high_w : g->low_w;
    case PROFILE_RAMP:
        return g->low_w + (g->high_w - g->low_w) * phase / g->period_s;
    default:
        return g->low_w;
    }
}

/* Exact integral of power_w from 0 to t, in joules. */
static double energy_j(const struct fake_gpu *g, double t)
{
    if (g->phase_count)
        return phases_energy_j(g, t);
    double periods = floor(t / g->period_s);
    double phase = t - periods * g->period_s;
    double half = g->period_s / 2;
    switch (g->kind) {
    case PROFILE_SQUARE:
        return periods * g->period_s * (g->low_w + g->high_w) / 2
               + (phase < half ? g->high_w * phase : g->high_w * half + g->low_w * (phase - half));
    case PROFILE_RAMP:
        return periods * g->period_s * (g->low_w + g->high_w) / 2 + g->low_w * phase
               + (g->high_w - g->low_w) * phase * phase / (2 * g->period_s);
    default:
        return g->low_w * t;
    }
}

static void log_read(double t, const char *call, int gpu, unsigned long long value)
{
    char line[128];
    int n;
    if (log_fd < 0)
        return;
    n = snprintf(line, sizeof line, "%.9f %s %d %llu\n", t, call, gpu, value);
    if (write(log_fd, line, (size_t)n) != n)
        return; /* a test log that cannot be written only loses lines */
}

/* The GPU behind a handle, or an error code for a lost GPU or a bad handle. */
static int lookup(const void *handle, struct fake_gpu **out)
{
    const struct fake_device *dev = handle;
    if (!init_count)
        return NVML_ERROR_UNINITIALIZED;
    if (!dev || dev->parent < 0 || dev->parent >= gpu_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    *out = &gpus[dev->parent];
    if ((*out)->lost_after_s >= 0 && now_s() - init_time_s >= (*out)->lost_after_s)
        return NVML_ERROR_GPU_IS_LOST;
    return NVML_SUCCESS;
}

static int copy_string(char *dst, unsigned length, const char *src)
{
    if (!dst || strlen(src) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(dst, src);
    return NVML_SUCCESS;
}

int nvmlInitWithFlags(unsigned flags)
{
    (void)flags;
    if (!configured)
        configure();
    if (init_error)
        return init_error;
    if (!init_count++)
        init_time_s = now_s();
    if (epoch_s < 0)
        epoch_s = init_time_s;
    return NVML_SUCCESS;
}

int nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
int nvmlInit(void) { return nvmlInitWithFlags(0); }

int nvmlShutdown(void)
{
    if (!init_count)
        return NVML_ERROR_UNINITIALIZED;
    init_count--;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(int result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

int nvmlSystemGetDriverVersion(char *version, unsigned length)
{
    if (!init_count)
        return NVML_ERROR_UNINITIALIZED;
    return copy_string(version, length, driver_version);
}

int nvmlDeviceGetCount_v2(unsigned *count)
{
    if (!init_count)
        return NVML_ERROR_UNINITIALIZED;
    *count = (unsigned)gpu_count;
    return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned index, void **handle)
{
    if (!init_count)
        return NVML_ERROR_UNINITIALIZED;
    if (index >= (unsigned)gpu_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    *handle = &gpus[index].dev;
    return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByUUID(const char *uuid, void **handle)
{
    if (!init_count)
        return NVML_ERROR_UNINITIALIZED;
    for (int i = 0; i < gpu_count; i++) {
        if (!strcmp(uuid, gpus[i].dev.uuid)) {
            *handle = &gpus[i].dev;
            return NVML_SUCCESS;
        }
        for (int k = 0; k < gpus[i].mig_count; k++) {
            if (!strcmp(uuid, gpus[i].mig[k].uuid)) {
                *handle = &gpus[i].mig[k];
                return NVML_SUCCESS;
            }
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

int nvmlDeviceIsMigDeviceHandle(void *handle, unsigned *is_mig)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    *is_mig = (unsigned)((struct fake_device *)handle)->is_mig;
    return NVML_SUCCESS;
}

int nvmlDeviceGetDeviceHandleFromMigDeviceHandle(void *mig_handle, void **handle)
{
    struct fake_gpu *g;
    int ret = lookup(mig_handle, &g);
    if (ret)
        return ret;
    if (!((struct fake_device *)mig_handle)->is_mig)
        return NVML_ERROR_INVALID_ARGUMENT;
    *handle = &g->dev;
    return NVML_SUCCESS;
}

int nvmlDeviceGetMaxMigDeviceCount(void *handle, unsigned *count)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    *count = (unsigned)g->mig_count;
    return NVML_SUCCESS;
}

int nvmlDeviceGetMigDeviceHandleByIndex(void *handle, unsigned index, void **mig_handle)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    if (index >= (unsigned)g->mig_count)
        return NVML_ERROR_NOT_FOUND;
    *mig_handle = &g->mig[index];
    return NVML_SUCCESS;
}

int nvmlDeviceGetIndex(void *handle, unsigned *index)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    *index = (unsigned)((struct fake_device *)handle)->index;
    return NVML_SUCCESS;
}

int nvmlDeviceGetName(void *handle, char *name, unsigned length)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    return ret ? ret : copy_string(name, length, g->name);
}

int nvmlDeviceGetUUID(void *handle, char *uuid, unsigned length)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    return ret ? ret : copy_string(uuid, length, ((struct fake_device *)handle)->uuid);
}

int nvmlDeviceGetTotalEnergyConsumption(void *handle, unsigned long long *energy_mj)
{
    struct fake_gpu *g;
    double t;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    if (g->no_energy)
        return NVML_ERROR_NOT_SUPPORTED;
    t = now_s();
    *energy_mj = (unsigned long long)(energy_j(g, t) * 1000.0 * g->energy_scale);
    log_read(t, "energy", g->dev.index, *energy_mj);
    return NVML_SUCCESS;
}

int nvmlDeviceGetPowerUsage(void *handle, unsigned *power_mw)
{
    struct fake_gpu *g;
    double t;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    t = now_s();
    *power_mw = (unsigned)llround(power_w(g, t) * 1000.0);
    log_read(t, "power", g->dev.index, *power_mw);
    return NVML_SUCCESS;
}

int nvmlDeviceGetPowerManagementLimit(void *handle, unsigned *limit_mw)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    *limit_mw = g->power_limit_mw;
    return NVML_SUCCESS;
}

struct nvml_utilization { unsigned gpu, memory; };

int nvmlDeviceGetUtilizationRates(void *handle, struct nvml_utilization *util)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    util->gpu = g->phase_count ? phase_at(g, now_s())->util_pct : g->util_pct;
    util->memory = util->gpu / 2;
    return NVML_SUCCESS;
}

struct nvml_memory { unsigned long long total, free, used; };
struct nvml_memory_v2 { unsigned version; unsigned long long total, reserved, free, used; };

int nvmlDeviceGetMemoryInfo(void *handle, struct nvml_memory *mem)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    mem->total = g->mem_total_b;
    mem->used = g->phase_count ? phase_at(g, now_s())->mem_used_b : g->mem_used_b;
    mem->free = mem->total - mem->used;
    return NVML_SUCCESS;
}

int nvmlDeviceGetMemoryInfo_v2(void *handle, struct nvml_memory_v2 *mem)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    mem->total = g->mem_total_b;
    mem->reserved = 0;
    mem->used = g->phase_count ? phase_at(g, now_s())->mem_used_b : g->mem_used_b;
    mem->free = mem->total - mem->used;
    return NVML_SUCCESS;
}

int nvmlDeviceGetCurrentClocksThrottleReasons(void *handle, unsigned long long *reasons)
{
    struct fake_gpu *g;
    int ret = lookup(handle, &g);
    if (ret)
        return ret;
    *reasons = g->phase_count ? phase_at(g, now_s())->throttle : g->throttle;
    return NVML_SUCCESS;
}

int nvmlDeviceGetCurrentClocksEventReasons(void *handle, unsigned long long *reasons)
{
    return nvmlDeviceGetCurrentClocksThrottleReasons(handle, reasons);
}

/* nvmlProcessInfo_v2_t, which NVML's _v3 entry point also fills. */
struct nvml_process_info {
    unsigned pid;
    unsigned long long used_gpu_memory;
    unsigned gpu_instance_id, compute_instance_id;
};

static int read_pids(int gpu, unsigned *pids)
{
    FILE *f;
    int n = 0, line_gpu;
    unsigned pid;
    if (!pids_file || !(f = fopen(pids_file, "r")))
        return 0;
    while (n < MAX_PROCS && fscanf(f, "%d %u", &line_gpu, &pid) == 2)
        if (line_gpu == gpu)
            pids[n++] = pid;
    fclose(f);
    return n;
}

int nvmlDeviceGetComputeRunningProcesses_v3(void *handle, unsigned *count,
                                            struct nvml_process_info *infos)
{
    struct fake_gpu *g;
    unsigned pids[MAX_PROCS];
    int n, ret = lookup(handle, &g);
    if (ret)
        return ret;
    n = read_pids(g->dev.index, pids);
    if (*count < (unsigned)n || (n && !infos)) {
        *count = (unsigned)n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (int k = 0; k < n; k++) {
        infos[k].pid = pids[k];
        infos[k].used_gpu_memory = 512ULL * 1048576ULL;
        infos[k].gpu_instance_id = 0xFFFFFFFFu;
        infos[k].compute_instance_id = 0xFFFFFFFFu;
    }
    *count = (unsigned)n;
    return NVML_SUCCESS;
}

int nvmlDeviceGetComputeRunningProcesses_v2(void *handle, unsigned *count,
                                            struct nvml_process_info *infos)
{
    return nvmlDeviceGetComputeRunningProcesses_v3(handle, count, infos);
}
