/* SPDX-License-Identifier: MIT */
/*
 * pcmd.c: the pcachefs command-line tool: options, config file, dispatch.
 *
 * Settings come, weakest first, from the table's defaults, the config
 * file (--config FILE: the same "name = value" lines and names as the
 * mount's -o options, so one file serves both; names only the mount
 * knows are accepted and ignored), -o NAME=VALUE and the short options.
 * The commands live in pcmd_obj.c, pcmd_sync.c and pcmd_node.c.
 *
 * Exit status: 0 success, 1 failure (or partial failure: some files of a
 * sync, some keys of an rm), 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/creds.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/s3.h"
#include "pcachefs/pcmd.h"

#define PCMD_CONF(field) offsetof(struct pcmd_conf, field)
/*
 * The config file may be the mount's: names only the mount uses are read
 * and dropped (they have no help text, so --help leaves them out). Keep
 * them in step with fs_table in main.c.
 */
#define PCMD_IGNORED(i, name)                                                  \
    {                                                                          \
        name, CONFIG_STRING, PCMD_CONF(ignored[i]), NULL, 0, 0, NULL           \
    }

static const struct config_entry pcmd_table[] = {
    S3_CONFIG_ENTRIES(struct pcmd_conf, s3),
    {"credfile", CONFIG_STRING, PCMD_CONF(credfile), NULL, 0, 0,
     "credentials file (AWS or s3fs format, mode 0600)"},
    {"profile", CONFIG_STRING, PCMD_CONF(profile), NULL, 0, 0,
     "profile in the credentials file"},
    {"access_key", CONFIG_STRING, PCMD_CONF(access_key), NULL, 0, 0,
     "access key (prefer credfile)"},
    {"secret_key", CONFIG_STRING, PCMD_CONF(secret_key), NULL, 0, 0,
     "secret key (prefer credfile)"},
    {"pms", CONFIG_STRING, PCMD_CONF(pms), NULL, 0, 0,
     "cluster mode: pmsd addresses host:port,...; credfile holds the "
     "pcache user's ACCESS_KEY:SECRET_KEY"},
    {"pms_ca", CONFIG_STRING, PCMD_CONF(pms_ca), NULL, 0, 0,
     "cluster mode: CA file for pmsd and nodes over https"},
    {"node_timeout", CONFIG_DURATION, PCMD_CONF(node_timeout_ms), "10s", 1000,
     600000, "cluster mode: a node silent this long has failed"},
    {"part_size", CONFIG_SIZE, PCMD_CONF(part_size), "8M", 5 << 20, 5ll << 30,
     "multipart part size"},
    {"parallel", CONFIG_INT, PCMD_CONF(parallel), "8", 1, 64,
     "requests in flight per transfer"},
    {"jobs", CONFIG_INT, PCMD_CONF(jobs), "8", 1, 256,
     "sync: files transferred at once (-j)"},
    {"md5_max", CONFIG_SIZE, PCMD_CONF(md5_max), "4M", 0, 0,
     "sync: compare files up to this size by MD5 when the ETag is one"},
    {"recursive", CONFIG_BOOL, PCMD_CONF(recursive), "no", 0, 0,
     "ls, rm: every key below the prefix (-r)"},
    {"long", CONFIG_BOOL, PCMD_CONF(long_list), "no", 0, 0,
     "ls: sizes, times and ETags (-l)"},
    {"human", CONFIG_BOOL, PCMD_CONF(human), "no", 0, 0,
     "sizes as 1.5K, 2.0M, ... (-h)"},
    {"expires", CONFIG_INT, PCMD_CONF(expires), "3600", 1, SIGV4_MAX_EXPIRES,
     "presign: lifetime in seconds"},
    {"method", CONFIG_STRING, PCMD_CONF(method), "GET", 0, 0,
     "presign: HTTP method"},
    {"node", CONFIG_STRING, PCMD_CONF(node), NULL, 0, 0,
     "stats, warmup: a cache node's URL, http://host:port"},
    {"token", CONFIG_STRING, PCMD_CONF(token), NULL, 0, 0,
     "stats, warmup: bearer token for a node of a cluster (or PCACHE_TOKEN)"},
    {"chunk_size", CONFIG_SIZE, PCMD_CONF(chunk_size), NULL, 0, 64 << 20,
     "warmup: chunk size (default: the node's)"},
    {"poll", CONFIG_DURATION, PCMD_CONF(poll_ms), "250ms", 10, 60000,
     "warmup: how often to ask for progress"},
    PCMD_IGNORED(0, "cache_dir"),
    PCMD_IGNORED(1, "cache_size"),
    PCMD_IGNORED(2, "max_memory"),
    PCMD_IGNORED(3, "readahead"),
    PCMD_IGNORED(4, "attr_timeout"),
    PCMD_IGNORED(5, "entry_timeout"),
    PCMD_IGNORED(6, "negative_timeout"),
    PCMD_IGNORED(7, "uid"),
    PCMD_IGNORED(8, "gid"),
    PCMD_IGNORED(9, "umask"),
    PCMD_IGNORED(10, "dir_meta_max"),
    PCMD_IGNORED(11, "max_threads"),
    PCMD_IGNORED(12, "max_background"),
    PCMD_IGNORED(13, "upload_parallel"),
    PCMD_IGNORED(14, "multipart_above"),
    PCMD_IGNORED(15, "debug"),
    PCMD_IGNORED(16, "allow_other"),
    PCMD_IGNORED(17, "ro"),
    PCMD_IGNORED(18, "cache_direct"),
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

static const struct {
    const char *name;
    int (*fn)(struct pcmd *p, int argc, char **argv);
    bool remote; /* needs the S3 client (standalone) or the cluster */
} pcmd_commands[] = {
    {"put", pcmd_cmd_put, true},        {"get", pcmd_cmd_get, true},
    {"cat", pcmd_cmd_cat, true},        {"stat", pcmd_cmd_stat, true},
    {"ls", pcmd_cmd_ls, true},          {"rm", pcmd_cmd_rm, true},
    {"cp", pcmd_cmd_cp, true},          {"mb", pcmd_cmd_mb, true},
    {"rb", pcmd_cmd_rb, true},          {"presign", pcmd_cmd_presign, true},
    {"sync", pcmd_cmd_sync, true},      {"stats", pcmd_cmd_stats, false},
    {"warmup", pcmd_cmd_warmup, false},
};

/* The settings of --help: the table without the mount's names. */
static void pcmd_print_settings(FILE *out)
{
    struct config_entry shown[sizeof(pcmd_table) / sizeof(pcmd_table[0])];
    size_t i, n = 0;

    for (i = 0; pcmd_table[i].name; i++) {
        if (pcmd_table[i].help)
            shown[n++] = pcmd_table[i];
    }
    shown[n] = pcmd_table[i];
    config_print_help(shown, out);
}

static void pcmd_usage(FILE *out)
{
    fprintf(
        out,
        "usage: pcmd [options] COMMAND ARGS\n"
        "commands:\n"
        "  mb s3://BUCKET              create a bucket\n"
        "  rb s3://BUCKET              remove an empty bucket\n"
        "  put FILE s3://BUCKET/KEY    upload (multipart when large)\n"
        "  get s3://BUCKET/KEY FILE    download (parallel ranges)\n"
        "  cat s3://BUCKET/KEY         write an object to stdout\n"
        "  stat s3://BUCKET/KEY        show an object's metadata\n"
        "  ls s3://BUCKET[/PREFIX]     list (-r recursive, -l long, -h)\n"
        "  rm s3://BUCKET/KEY...       delete objects (-r: every key below)\n"
        "  cp s3://B/K s3://B2/K2      server-side copy\n"
        "  presign s3://BUCKET/KEY     print a presigned URL\n"
        "  sync SRC DST                copy what differs, s3://B/PREFIX/ to a\n"
        "                              directory or back (-j, --delete, -n)\n"
        "  stats [s3://BUCKET/PREFIX]  S3 requests made and the prefix's\n"
        "                              size; --node URL: a node's hit ratio,\n"
        "                              bytes served and tier usage\n"
        "  warmup s3://PBUCKET/PREFIX --node URL\n"
        "                              load a prefix into a node's cache\n"
        "options:\n"
        "  -e, --endpoint URL   S3 endpoint (or PCACHE_ENDPOINT)\n"
        "  -c, --credfile FILE  credentials file\n"
        "      --config FILE    settings file (name = value), the mount's\n"
        "  -r, --recursive      -l, --long      -h, --human-readable\n"
        "  -j, --jobs N         sync: files in flight (default 8)\n"
        "      --delete         sync: remove what the source does not have\n"
        "  -n, --dry-run        sync, rm: say what would be done, do nothing\n"
        "      --json           results as one JSON document on stdout\n"
        "  -q, --quiet          no result lines, no progress bar\n"
        "      --progress, --no-progress\n"
        "                       force the bar on stderr (default: when\n"
        "                       stderr is a terminal)\n"
        "      --node URL       stats, warmup: a cache node (pcpd)\n"
        "      --pms LIST       cluster mode: pmsd host:port,... (credfile: "
        "the user's key)\n"
        "  -o NAME=VALUE[,...]  any setting below\n"
        "  -d, --debug LIST     debug output (s3, all)\n"
        "      --help           -V, --version\n"
        "exit status: 0 success, 1 failure or partial failure (some files\n"
        "  or keys failed), 2 usage error (bad arguments or settings)\n"
        "settings:\n");
    pcmd_print_settings(out);
}

int pcmd_parse_url(const char *s, struct pcmd_url *u)
{
    const char *slash;

    memset(u, 0, sizeof(*u));
    if (strncmp(s, "s3://", 5) != 0 || s[5] == '\0' || s[5] == '/') {
        fprintf(stderr, "pcmd: '%s' is not an s3://BUCKET[/KEY] URL\n", s);
        return -EINVAL;
    }
    s += 5;
    slash = strchr(s, '/');
    u->bucket = slash ? xstrndup(s, (size_t)(slash - s)) : xstrdup(s);
    u->key = xstrdup(slash ? slash + 1 : "");
    return 0;
}

void pcmd_url_fini(struct pcmd_url *u)
{
    free(u->bucket);
    free(u->key);
    u->bucket = u->key = NULL;
}

int pcmd_fail(const char *what, const char *target, int rc,
              const struct s3_error *err)
{
    char detail[768];

    if (err && (err->status || err->curl_code))
        fprintf(stderr, "pcmd: %s %s: %s (%s)\n", what, target, strerror(-rc),
                s3_error_format(err, detail, sizeof(detail)));
    else
        fprintf(stderr, "pcmd: %s %s: %s\n", what, target, strerror(-rc));
    return PCMD_EXIT_FAIL;
}

void pcmd_transfer_opts(const struct pcmd *p, struct s3_transfer_opts *o)
{
    s3_transfer_opts_init(o);
    o->part_size = p->conf.part_size;
    o->multipart_above = 2 * p->conf.part_size;
    o->parallel = (unsigned)p->conf.parallel;
}

const char *pcmd_size_str(uint64_t v, bool human, char *out, size_t len)
{
    static const char units[] = "BKMGTPE";
    double d = (double)v;
    int u = 0;

    if (!human || v < 1024) {
        snprintf(out, len, "%" PRIu64, v);
        return out;
    }
    while (d >= 1024 && u < 6) {
        d /= 1024;
        u++;
    }
    snprintf(out, len, d < 10 ? "%.1f%c" : "%.0f%c", d, units[u]);
    return out;
}

void pcmd_json_str(FILE *f, const char *s)
{
    const unsigned char *c = (const unsigned char *)(s ? s : "");

    fputc('"', f);
    for (; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

void pcmd_print_s3_stats(const struct pcmd *p, FILE *f, bool json)
{
    struct s3_stats s = {0};

    if (p->client)
        s3_client_stats(p->client, &s);
    fprintf(f,
            json ? "\"requests\": {\"total\": %" PRIu64
                   ", \"retries\": %" PRIu64 ", \"failures\": %" PRIu64
                   ", \"GET\": %" PRIu64 ", \"HEAD\": %" PRIu64
                   ", \"PUT\": %" PRIu64 ", \"POST\": %" PRIu64
                   ", \"DELETE\": %" PRIu64 ", \"LIST\": %" PRIu64
                   ", \"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64 "}"
                 : "S3 requests: %" PRIu64 " (retries %" PRIu64
                   ", failures %" PRIu64 "): GET %" PRIu64 ", HEAD %" PRIu64
                   ", PUT %" PRIu64 ", POST %" PRIu64 ", DELETE %" PRIu64
                   ", LIST %" PRIu64 "; bytes in %" PRIu64 ", out %" PRIu64
                   "\n",
            s.requests, s.retries, s.failures, s.gets, s.heads, s.puts, s.posts,
            s.deletes, s.lists, s.bytes_in, s.bytes_out);
}

/* --config FILE is read before the other options, which override it. */
static int pcmd_load_config(struct pcmd *p, int argc, char **argv)
{
    struct config_error cerr;
    const char *path = NULL;
    int i, rc;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
    }
    if (!path)
        return 0;
    rc = config_load_file(pcmd_table, &p->conf, path, false, &cerr);
    if (rc == 0)
        return 0;
    if (rc == -EINVAL || rc == -ENOENT)
        fprintf(stderr, "pcmd: %s\n", cerr.text);
    else
        fprintf(stderr, "pcmd: %s: %s\n", path, strerror(-rc));
    return -1;
}

enum {
    PCMD_OPT_CONFIG = 256,
    PCMD_OPT_DELETE,
    PCMD_OPT_JSON,
    PCMD_OPT_PROGRESS,
    PCMD_OPT_NO_PROGRESS,
    PCMD_OPT_NODE,
    PCMD_OPT_PMS,
    PCMD_OPT_HELP,
};

static const struct option pcmd_longopts[] = {
    {"endpoint", required_argument, NULL, 'e'},
    {"credfile", required_argument, NULL, 'c'},
    {"config", required_argument, NULL, PCMD_OPT_CONFIG},
    {"recursive", no_argument, NULL, 'r'},
    {"long", no_argument, NULL, 'l'},
    {"human-readable", no_argument, NULL, 'h'},
    {"jobs", required_argument, NULL, 'j'},
    {"delete", no_argument, NULL, PCMD_OPT_DELETE},
    {"dry-run", no_argument, NULL, 'n'},
    {"json", no_argument, NULL, PCMD_OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"progress", no_argument, NULL, PCMD_OPT_PROGRESS},
    {"no-progress", no_argument, NULL, PCMD_OPT_NO_PROGRESS},
    {"node", required_argument, NULL, PCMD_OPT_NODE},
    {"pms", required_argument, NULL, PCMD_OPT_PMS},
    {"debug", required_argument, NULL, 'd'},
    {"help", no_argument, NULL, PCMD_OPT_HELP},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* One option; 0, or -1 after a message. */
static int pcmd_option(struct pcmd *p, int c, int *progress)
{
    struct config_error cerr;
    const char *name = NULL;
    int rc = 0;

    switch (c) {
    case 'e':
        name = "endpoint";
        break;
    case 'c':
        name = "credfile";
        break;
    case 'j':
        name = "jobs";
        break;
    case PCMD_OPT_NODE:
        name = "node";
        break;
    case PCMD_OPT_PMS:
        name = "pms";
        break;
    case PCMD_OPT_CONFIG:
        return 0; /* read first, by pcmd_load_config */
    case 'r':
        p->conf.recursive = true;
        return 0;
    case 'l':
        p->conf.long_list = true;
        return 0;
    case 'h':
        p->conf.human = true;
        return 0;
    case 'n':
        p->conf.dry_run = true;
        return 0;
    case 'q':
        p->conf.quiet = true;
        return 0;
    case PCMD_OPT_DELETE:
        p->conf.delete_extra = true;
        return 0;
    case PCMD_OPT_JSON:
        p->conf.json = true;
        return 0;
    case PCMD_OPT_PROGRESS:
        *progress = 1;
        return 0;
    case PCMD_OPT_NO_PROGRESS:
        *progress = 0;
        return 0;
    case 'o':
        rc =
            config_parse_opts(pcmd_table, &p->conf, optarg, false, NULL, &cerr);
        break;
    case 'd':
        rc = log_enable_debug(optarg);
        snprintf(cerr.text, sizeof(cerr.text), "bad debug list '%s'", optarg);
        break;
    case PCMD_OPT_HELP:
        pcmd_usage(stdout);
        exit(0);
    case 'V':
        printf("pcmd %s\n", PCACHE_VERSION);
        exit(0);
    default:
        return -1;
    }
    if (name)
        rc = config_set(pcmd_table, &p->conf, name, optarg, &cerr);
    if (rc) {
        fprintf(stderr, "pcmd: %s\n", cerr.text);
        return -1;
    }
    return 0;
}

/* Parses options into p->conf; returns the index of the command or -1. */
static int pcmd_options(struct pcmd *p, int argc, char **argv)
{
    int c, progress = -1;

    if (pcmd_load_config(p, argc, argv) < 0)
        return -1;
    while ((c = getopt_long(argc, argv, "e:c:rlhj:nqo:d:V", pcmd_longopts,
                            NULL)) != -1) {
        if (pcmd_option(p, c, &progress) < 0)
            return -1;
    }
    p->conf.progress = progress < 0 ? isatty(STDERR_FILENO) : progress;
    if (p->conf.quiet)
        p->conf.progress = false;
    return optind < argc ? optind : -1;
}

/* Standalone: the S3 client. Cluster mode: clients per pbucket, made
 * when a command names one (pcmd_remote). */
static int pcmd_connect(struct pcmd *p)
{
    const char *env = getenv("PCACHE_ENDPOINT");
    char err[512];

    if (p->conf.pms) {
        p->mode = PCMD_MODE_CLUSTER;
        return 0;
    }
    if (!p->conf.s3.endpoint && env && *env)
        p->conf.s3.endpoint = xstrdup(env);
    if (!p->conf.s3.endpoint) {
        fprintf(stderr, "pcmd: no endpoint: give -e URL, endpoint = in "
                        "--config, or PCACHE_ENDPOINT\n");
        return PCMD_EXIT_USAGE;
    }
    if (creds_source_init(&p->creds, p->conf.access_key, p->conf.secret_key,
                          NULL, p->conf.credfile, p->conf.profile, err,
                          sizeof(err)) < 0) {
        fprintf(stderr, "pcmd: %s\n", err);
        return PCMD_EXIT_FAIL;
    }
    p->client = s3_client_new(&p->conf.s3, &p->creds, NULL, err, sizeof(err));
    if (!p->client) {
        fprintf(stderr, "pcmd: %s\n", err);
        creds_source_fini(&p->creds);
        return PCMD_EXIT_FAIL;
    }
    return 0;
}

static int pcmd_run(struct pcmd *p, const char *cmd, int argc, char **argv)
{
    size_t i;
    int rc = PCMD_EXIT_USAGE;

    for (i = 0; i < sizeof(pcmd_commands) / sizeof(pcmd_commands[0]); i++) {
        if (strcmp(cmd, pcmd_commands[i].name) != 0)
            continue;
        /* stats without --node reports the S3 client: it needs one too */
        if (pcmd_commands[i].remote ||
            (pcmd_commands[i].fn == pcmd_cmd_stats && !p->conf.node)) {
            rc = pcmd_connect(p);
            if (rc)
                return rc;
        }
        rc = pcmd_commands[i].fn(p, argc, argv);
        if (rc == PCMD_EXIT_USAGE)
            fprintf(stderr, "pcmd: usage error; see 'pcmd --help'\n");
        return rc;
    }
    fprintf(stderr, "pcmd: unknown command '%s'; see 'pcmd --help'\n", cmd);
    return rc;
}

int main(int argc, char **argv)
{
    struct pcmd p;
    int cmd, rc;

    memset(&p, 0, sizeof(p));
    log_init("pcmd", LOG_SINK_STDERR);
    config_init(pcmd_table, &p.conf);
    cmd = pcmd_options(&p, argc, argv);
    if (cmd < 0) {
        pcmd_usage(stderr);
        config_fini(pcmd_table, &p.conf);
        return PCMD_EXIT_USAGE;
    }
    pthread_mutex_init(&p.remotes_lock, NULL);
    rc = pcmd_run(&p, argv[cmd], argc - cmd - 1, argv + cmd + 1);
    pcmd_remote_close(&p);
    pthread_mutex_destroy(&p.remotes_lock);
    if (p.client) {
        s3_client_free(p.client);
        creds_source_fini(&p.creds);
    }
    config_fini(pcmd_table, &p.conf);
    return rc;
}
