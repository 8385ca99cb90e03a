/* libFuzzer driver: the clip rewriter of media/. The input is an init segment
 * (ftyp+moov) followed by a moof, as in a segment file; the moof is patched in
 * place, cut at limits taken from its own decode times, and a clip header is
 * built from the init. What the rewriter produces must parse again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    media__init init, again;
    media__moof m, mc;
    if (media__init_parse(data, size, &init) < 0) return 0;
    size_t at = init.moov_off + init.moov_len;
    uint8_t *moof = NULL, *out = NULL, *head = NULL;
    size_t out_len = 0, head_len = 0;
    /* the moof is copied: patched in place, and its length is then exact */
    if (at >= size || media__moof_parse(data + at, size - at, &init, &m) < 0) goto header;
    if (!(moof = malloc(m.size))) abort();
    memcpy(moof, data + at, m.size);
    int64_t delta[MEDIA_MAX_TRACKS];
    uint64_t limit[MEDIA_MAX_TRACKS];
    for (int t = 0; t < MEDIA_MAX_TRACKS; t++) {
        delta[t] = -(int64_t)(m.tfdt[t] / 2);
        limit[t] = m.tfdt[t] + m.dur[t] / 2 + 1;
    }
    if (media__moof_patch(moof, &m, 7, delta) == 0) {
        if (media__moof_parse(moof, m.size, &init, &mc) < 0) abort();
        for (int t = 0; t < init.ntracks; t++)
            if (m.has[t] && mc.tfdt[t] != m.tfdt[t] + (uint64_t)delta[t]) abort();
        memcpy(moof, data + at, m.size);
    }
    media__range ranges[MEDIA__MAX_TRUNS];
    int nranges = 0;
    uint64_t kept[MEDIA_MAX_TRACKS];
    if (media__moof_cut(moof, &init, &m, limit, 3, delta, &out, &out_len, ranges, &nranges, kept) == 0) {
        uint32_t ml = media__rd32(out);
        if (ml + 8 != out_len || nranges < 0 || nranges > MEDIA__MAX_TRUNS) abort();
        if (media__moof_parse(out, ml, &init, &mc) < 0) abort();
        for (int t = 0; t < init.ntracks; t++)
            if (kept[t] > m.dur[t] || mc.dur[t] != kept[t]) abort();
    }
header:;
    uint32_t sizes[2] = {1000, 2000}, durs[2] = {10, 20};
    if (media__header_build(data, &init, 30, sizes, durs, 2, &head, &head_len) == 0) {
        if (media__init_parse(head, head_len, &again) < 0 || again.sig != init.sig) abort();
    }
    free(head);
    free(out);
    free(moof);
    return 0;
}
