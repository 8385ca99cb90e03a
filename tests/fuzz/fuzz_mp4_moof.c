/* libFuzzer driver: the clip rewriter of media/ (rewrite.c). The input is an
 * init segment (ftyp+moov) followed by fragments, as in a segment file; every
 * moof among the boxes after the init (up to 64) is patched in place with a
 * sequence number and decode-time shift, and cut at limits, both taken from
 * the input's last 4 bytes and the fragment's own decode times; a clip header
 * is built from the init with fragment sizes and durations from the same
 * bytes. What the rewriter produces must parse again, with the decode times,
 * durations and lengths it promised. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_internal.h"

#define MAX_MOOFS 64

/* The checks on one moof at p (len bytes up to the end of the input). */
static void one_moof(const uint8_t *p, size_t len, const media__init *init, const uint8_t prm[4],
                     unsigned idx)
{
    media__moof m, mc;
    uint8_t *moof = NULL, *out = NULL;
    size_t out_len = 0;
    /* the moof is copied: patched in place, and its length is then exact */
    if (media__moof_parse(p, len, init, &m) < 0) return;
    if (!(moof = malloc(m.size))) abort();
    memcpy(moof, p, m.size);
    int64_t delta[MEDIA_MAX_TRACKS];
    uint64_t limit[MEDIA_MAX_TRACKS];
    for (int t = 0; t < MEDIA_MAX_TRACKS; t++) {
        /* a shift back by up to the whole decode time; a cut anywhere in the
         * fragment, before it, or past its end */
        delta[t] = -(int64_t)(m.tfdt[t] / 256 * prm[1]);
        limit[t] = m.tfdt[t] + m.dur[t] / 128 * prm[2] + (prm[3] & 3);
    }
    uint32_t seq = prm[0] + idx;
    if (media__moof_patch(moof, &m, seq, delta) == 0) {
        if (media__moof_parse(moof, m.size, init, &mc) < 0) abort();
        for (int t = 0; t < init->ntracks; t++)
            if (m.has[t] && mc.tfdt[t] != m.tfdt[t] + (uint64_t)delta[t]) abort();
        memcpy(moof, p, m.size);
    }
    media__range ranges[MEDIA__MAX_TRUNS];
    int nranges = 0;
    uint64_t kept[MEDIA_MAX_TRACKS];
    if (media__moof_cut(moof, init, &m, limit, seq, delta, &out, &out_len, ranges, &nranges,
                        kept) == 0) {
        uint32_t ml = media__rd32(out);
        if (ml + 8 != out_len || nranges < 0 || nranges > MEDIA__MAX_TRUNS) abort();
        if (media__moof_parse(out, ml, init, &mc) < 0) abort();
        for (int t = 0; t < init->ntracks; t++) {
            if (kept[t] > m.dur[t] || mc.dur[t] != kept[t]) abort();
            if (m.has[t] && mc.has[t] && mc.tfdt[t] != m.tfdt[t] + (uint64_t)delta[t]) abort();
        }
        /* the mdat header announces exactly the ranges to copy, which are
         * no more than the fragment's samples */
        uint64_t total = 0, all = 0;
        for (int i = 0; i < nranges; i++) total += ranges[i].len;
        for (int t = 0; t < init->ntracks; t++) all += m.bytes[t];
        if (total > all || media__rd32(out + ml) != 8 + total) abort();
    }
    free(out);
    free(moof);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    media__init init, again;
    if (size < 4 || media__init_parse(data, size, &init) < 0) return 0;
    const uint8_t *prm = data + size - 4;
    const uint8_t *end = data + size;
    const uint8_t *p = data + init.moov_off + init.moov_len;
    unsigned n = 0;
    while (p < end && n < MAX_MOOFS) {
        media__box b;
        if (media__box_read(p, end, &b) < 0 || b.size == 0) break;
        if (b.type == MEDIA__FOURCC('m', 'o', 'o', 'f')) one_moof(p, (size_t)(end - p), &init, prm, n++);
        if (b.size > (size_t)(end - p)) break;
        p += b.size;
    }
    uint8_t *head = NULL;
    size_t head_len = 0;
    uint32_t sizes[3] = {1000u + prm[0], 2000u * prm[1], 8u + prm[2]};
    uint32_t durs[3] = {10u * prm[3], 20, 1};
    uint64_t duration = (uint64_t)durs[0] + durs[1] + durs[2];
    if (media__header_build(data, &init, duration, sizes, durs, 1 + prm[3] % 3, &head,
                            &head_len) == 0) {
        if (media__init_parse(head, head_len, &again) < 0 || again.sig != init.sig) abort();
    }
    free(head);
    return 0;
}
