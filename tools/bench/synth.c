/*
 * vigil-bench synth: a province's month of index, made in minutes.
 *
 *   vigil-bench synth --index DB --cameras N --days D [--segment-seconds 60]
 *       [--bitrate-mbps 2] [--gop-seconds 2] [--frag-bytes 262144] [--gop-jitter 0.15]
 *       [--ungrouped]
 *       [--events-per-day 48] [--end T] [--cameras-per-district 40]
 *
 * Creates (or migrates) DB with the daemon's own schema (index_open), then
 * fills it as a recorder would have over D days ending at --end (default:
 * now): per camera one closed segment row every --segment-seconds with its
 * fragment table (a fragment per GOP piece: a GOP of bitrate x gop seconds is
 * cut every frag-bytes, as ingest/segmenter.c does, its first piece flagged
 * key; each GOP's bytes vary by up to +-gop-jitter around the mean, as a
 * camera's do with what it sees), a random SHA-256, one run per day; and --events-per-day events per
 * camera (half system events, half ANPR reads with a plate in text and
 * attributes). Cameras are d<k>-c<i>, districts d<k>. Rows go in directly
 * through a connection of its own in large transactions (the writer thread
 * would take hours for 35 million rows); the fragment tables are stored as
 * the writer stores a finished segment's, grouped by GOP
 * (index__frags_group(); --ungrouped: every piece, as before) and packed by
 * index__frags_encode(), the one definition of their format, and each path
 * as the writer stores it (index__segment_path_stored(): '' for the
 * layout's path).
 *
 * Prints the rows it made and the file's size.
 */
#include "index/index_internal.h"

#include "common/common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int vigil_bench_synth(int argc, char **argv);

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "synth: %s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

int vigil_bench_synth(int argc, char **argv)
{
    const char *index_path = NULL;
    int cameras = 10, days = 30, seg_s = 60, events_per_day = 48, per_district = 40;
    double mbps = 2, gop_s = 2, jitter = 0.15;
    bool grouped = true;
    int64_t frag_bytes = 256 * 1024, end_us = vg_now_us();
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--ungrouped")) {
            grouped = false;
            i--; /* a flag: no value */
            continue;
        }
        if (!strcmp(a, "--index")) index_path = v;
        else if (!strcmp(a, "--cameras")) cameras = atoi(v);
        else if (!strcmp(a, "--days")) days = atoi(v);
        else if (!strcmp(a, "--segment-seconds")) seg_s = atoi(v);
        else if (!strcmp(a, "--bitrate-mbps")) mbps = atof(v);
        else if (!strcmp(a, "--gop-seconds")) gop_s = atof(v);
        else if (!strcmp(a, "--frag-bytes")) frag_bytes = atoll(v);
        else if (!strcmp(a, "--gop-jitter")) jitter = atof(v);
        else if (!strcmp(a, "--events-per-day")) events_per_day = atoi(v);
        else if (!strcmp(a, "--cameras-per-district")) per_district = atoi(v);
        else if (!strcmp(a, "--end") && vg_time_parse(v, &end_us) == 0) continue;
        else {
            fprintf(stderr, "synth: unknown or bad option %s\n", a);
            return 2;
        }
    }
    if (!index_path || cameras < 1 || days < 1 || seg_s < 1 || per_district < 1 || jitter < 0 ||
        jitter >= 1 || frag_bytes < 1) {
        fprintf(stderr, "usage: vigil-bench synth --index DB --cameras N --days D ...\n");
        return 2;
    }
    index_db *idx = NULL;
    int ret = index_open(index_path, &idx); /* the schema, migrated as the daemon would */
    if (ret < 0) {
        fprintf(stderr, "synth: index_open %s: %s\n", index_path, strerror(-ret));
        return 1;
    }
    index_close(&idx);

    sqlite3 *db = NULL;
    sqlite3_stmt *seg = NULL, *frag = NULL, *ev = NULL;
    index_fragment *fr = NULL;
    uint64_t nseg = 0, nfrag = 0, nentries = 0, nev = 0;
    if (sqlite3_open(index_path, &db) != SQLITE_OK) return 1;
    sqlite3_busy_timeout(db, 5000);
    exec(db, "PRAGMA journal_mode = WAL");
    exec(db, "PRAGMA synchronous = OFF"); /* a fixture: speed over durability */
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO segments (camera, start_us, end_us, run_start_us, pool, "
                           "path, bytes, open, sha256, codec, audio_codec, width, height) "
                           "VALUES (?1, ?2, ?3, ?4, 'main', ?5, ?6, 0, ?7, 'h264', '', 1280, 720)",
                           -1, &seg, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO segment_fragments (segment_id, frags) VALUES (?1, ?2)",
                           -1, &frag, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO events (time_us, camera, type, detail, district, text, "
                           "attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &ev, NULL) != SQLITE_OK) {
        fprintf(stderr, "synth: %s\n", sqlite3_errmsg(db));
        ret = -EIO;
        goto out;
    }
    const int64_t seg_us = (int64_t)seg_s * 1000000, gop_us = (int64_t)(gop_s * 1e6);
    const int64_t gop_bytes = (int64_t)(mbps * 1e6 / 8 * gop_s);
    const int max_pieces = (int)((gop_bytes * (1 + jitter) + frag_bytes) / frag_bytes) + 1;
    const int64_t day0 = (end_us / 86400000000LL - days) * 86400000000LL;
    size_t cap = (size_t)(seg_us / gop_us + 2) * (size_t)max_pieces;
    fr = malloc(cap * sizeof(*fr));
    char path[256], cam[32], dist[16], detail[128], text[64], attrs[128];
    if (!fr) {
        ret = -ENOMEM;
        goto out;
    }
    for (int d = 0; d < days && ret == 0; d++) {
        exec(db, "BEGIN");
        int64_t run = day0 + (int64_t)d * 86400000000LL;
        for (int c = 0; c < cameras; c++) {
            snprintf(dist, sizeof(dist), "d%d", c / per_district);
            snprintf(cam, sizeof(cam), "%s-c%d", dist, c % per_district);
            for (int64_t t = run; t < run + 86400000000LL; t += seg_us) {
                size_t nf = 0;
                uint64_t off = 1200; /* after the init segment */
                for (int64_t g = t; g < t + seg_us; g += gop_us) {
                    /* uniform in [1 - jitter, 1 + jitter) of the mean */
                    double u = (double)(rnd() >> 11) / 9007199254740992.0;
                    int64_t gb = (int64_t)((double)gop_bytes * (1 + jitter * (2 * u - 1)));
                    if (gb < 1) gb = 1;
                    const int pieces = (int)((gb + frag_bytes - 1) / frag_bytes);
                    for (int p = 0; p < pieces; p++) {
                        fr[nf] = (index_fragment){
                            .offset = off,
                            .size = (uint32_t)(p + 1 < pieces ? frag_bytes : gb - frag_bytes * p),
                            .flags = p == 0,
                            .start_us = g + gop_us * p / pieces,
                            .end_us = g + gop_us * (p + 1) / pieces};
                        off += fr[nf++].size;
                    }
                }
                uint8_t sha[32];
                for (int k = 0; k < 4; k++) {
                    uint64_t r = rnd();
                    memcpy(sha + 8 * k, &r, 8);
                }
                vg_segment_relpath(cam, t, path, sizeof(path));
                sqlite3_bind_text(seg, 1, cam, -1, SQLITE_STATIC);
                sqlite3_bind_int64(seg, 2, t);
                sqlite3_bind_int64(seg, 3, t + seg_us);
                sqlite3_bind_int64(seg, 4, run);
                sqlite3_bind_text(seg, 5, index__segment_path_stored(cam, t, path), -1,
                                  SQLITE_STATIC);
                sqlite3_bind_int64(seg, 6, (int64_t)off);
                sqlite3_bind_blob(seg, 7, sha, 32, SQLITE_STATIC);
                if (sqlite3_step(seg) != SQLITE_DONE) ret = -EIO;
                sqlite3_reset(seg);
                sqlite3_bind_int64(frag, 1, sqlite3_last_insert_rowid(db));
                uint8_t *blob = NULL;
                size_t len = 0;
                nfrag += nf; /* the fragments written, before grouping */
                if (grouped) nf = index__frags_group(fr, nf);
                if (index__frags_encode(fr, nf, &blob, &len) < 0) ret = -ENOMEM;
                sqlite3_bind_blob(frag, 2, blob, (int)len, free);
                if (ret == 0 && sqlite3_step(frag) != SQLITE_DONE) ret = -EIO;
                sqlite3_reset(frag);
                nseg++, nentries += nf;
            }
            for (int e = 0; e < events_per_day; e++) {
                int64_t at = run + (int64_t)(rnd() % 86400000000ull);
                int anpr = e % 2;
                snprintf(text, sizeof(text), "%02dA-%03d.%02d", (int)(rnd() % 99),
                         (int)(rnd() % 1000), (int)(rnd() % 100));
                snprintf(attrs, sizeof(attrs), "{\"plate\":\"%s\",\"lane\":%d}", text,
                         (int)(rnd() % 4));
                snprintf(detail, sizeof(detail), "{\"source\":\"synth\"}");
                sqlite3_bind_int64(ev, 1, at);
                sqlite3_bind_text(ev, 2, cam, -1, SQLITE_STATIC);
                sqlite3_bind_text(ev, 3, anpr ? "anpr" : (e % 4 ? "offline" : "online"), -1,
                                  SQLITE_STATIC);
                sqlite3_bind_text(ev, 4, detail, -1, SQLITE_STATIC);
                sqlite3_bind_text(ev, 5, dist, -1, SQLITE_STATIC);
                if (anpr) {
                    sqlite3_bind_text(ev, 6, text, -1, SQLITE_STATIC);
                    sqlite3_bind_text(ev, 7, attrs, -1, SQLITE_STATIC);
                } else {
                    sqlite3_bind_null(ev, 6);
                    sqlite3_bind_null(ev, 7);
                }
                if (sqlite3_step(ev) != SQLITE_DONE) ret = -EIO;
                sqlite3_reset(ev);
                nev++;
            }
        }
        if (ret < 0) fprintf(stderr, "synth: %s\n", sqlite3_errmsg(db));
        exec(db, "COMMIT");
        fprintf(stderr, "synth: day %d/%d: %" PRIu64 " segments\n", d + 1, days, nseg);
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE meta SET value = max(value, %" PRId64
             ") WHERE key = 'max_segment_us'", seg_us);
    exec(db, sql);
    exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
out:
    free(fr);
    sqlite3_finalize(seg);
    sqlite3_finalize(frag);
    sqlite3_finalize(ev);
    sqlite3_close(db);
    struct stat st;
    long long size = stat(index_path, &st) == 0 ? (long long)st.st_size : -1;
    printf("segments %" PRIu64 " fragments %" PRIu64 " events %" PRIu64 " bytes %lld entries %" PRIu64
           "\n", nseg, nfrag, nev, size, nentries);
    return ret < 0 ? 1 : 0;
}
