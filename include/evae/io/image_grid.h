/* PNG grids of images (samples, test images above their reconstructions), via stb_image_write. */
#ifndef EVAE_IMAGE_GRID_H
#define EVAE_IMAGE_GRID_H

/* images[count, C, H, W] with values in [0,1] (clamped), C = 1 (gray) or 3 (planar RGB), laid
 * out row by row, `cols` per row, with a 2-pixel gap. Written atomically (evae_atomic_write). */
int evae_png_grid(const char *path, const float *images, int count, int C, int H, int W, int cols);

#endif
