#include "evae/io/image_grid.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <stb/stb_image_write.h>

#include "evae/io/atomic_file.h"
#include "evae/util.h"

typedef struct png_image {
    const uint8_t *pix; /* [h, w, channels] */
    int w, h, channels;
} png_image;

static void put_bytes(void *f, void *data, int size) { fwrite(data, 1, (size_t)size, f); }

/* stb encodes the whole PNG in memory and hands it over; a short fwrite shows in ferror */
static int write_png(FILE *f, void *ctx)
{
    const png_image *p = ctx;
    return !stbi_write_png_to_func(put_bytes, f, p->w, p->h, p->channels, p->pix,
                                   p->w * p->channels);
}

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
    png_image png = {pix, gw, gh, C};
    int rc = evae_atomic_write(path, write_png, &png);
    free(pix);
    return rc;
}
