/* libFuzzer driver: media/'s segment file scanner (what startup recovery runs
 * on whatever a crash left on disk), on the input as a file. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "media/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("fuzz_mp4_scan", 0)) < 0) abort();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    media_scan sc;
    if (media_scan_fd(fd, size, &sc) == 0) {
        /* Whole fragments only, in file order, inside what was read. */
        if (sc.valid_end > size || sc.init_end > sc.valid_end) abort();
        uint64_t end = sc.init_end;
        for (size_t i = 0; i < sc.nfrags; i++) {
            if (sc.frags[i].offset < end) abort();
            end = sc.frags[i].offset + sc.frags[i].size;
            if (end > sc.valid_end) abort();
        }
        if (sc.nfrags && end != sc.valid_end) abort();
    }
    media_scan_free(&sc);
    return 0;
}
