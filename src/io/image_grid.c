#include "evae/io/image_grid.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

#include "evae/util.h"

int evae_png_grid(const char *path, const float *images, int count, int C, int H, int W, int cols)
{
    const int gap = 2;
    if (count <= 0 || cols <= 0 || (C != 1 && C != 3)) {
        evae_error("%s: cannot draw a grid of %d images with %d channels", path, count, C);
        return 1;
    }
    int rows = (count + cols - 1) / cols;
    int gw = cols * (W + gap) + gap, gh = rows * (H + gap) + gap;
    uint8_t *pix = evae_xcalloc((size_t)gw * gh * C, 1); /* [gh, gw, C], black background */
    for (int k = 0; k < count; k++) {
        int oy = gap + (k / cols) * (H + gap), ox = gap + (k % cols) * (W + gap);
        const float *img = images + (size_t)k * C * H * W;
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    float v = img[((size_t)c * H + y) * W + x];
                    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                    pix[((size_t)(oy + y) * gw + ox + x) * C + c] = (uint8_t)(v * 255.0f + 0.5f);
                }
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int ok = stbi_write_png(tmp, gw, gh, C, pix, gw * C);
    free(pix);
    if (!ok) {
        evae_error("%s: could not write the PNG (is the folder writable?)", tmp);
        remove(tmp);
        return 1;
    }
    if (rename(tmp, path) != 0) {
        evae_error("%s: could not rename %s into place: %s", path, tmp, strerror(errno));
        remove(tmp);
        return 1;
    }
    return 0;
}
