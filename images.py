"""Image grids written to disk atomically (a half-written file never has the final name)."""
import os

import numpy as np
from PIL import Image, ImageDraw

CAPTION_HEIGHT = 14   # pixels of the strip a caption is written in, above the grid


def make_grid(images, grid_size):
    """[n, H, W, C] floats in [0, 1] -> one [rows*H, cols*W, C] uint8 image, row-major; empty cells black."""
    rows, cols = grid_size
    images = np.asarray(images)
    count, height, width, channels = images.shape
    if count > rows * cols:
        raise ValueError('{} images do not fit a {}x{} grid'.format(count, rows, cols))
    pixels = np.rint(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
    grid = np.zeros((rows * height, cols * width, channels), np.uint8)
    for i in range(count):
        top, left = (i // cols) * height, (i % cols) * width
        grid[top:top + height, left:left + width] = pixels[i]
    return grid


def save_image(pixels, path):
    """Writes a uint8 [H, W, C] image, format from the extension, via a temporary file and a rename."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    root, ext = os.path.splitext(path)
    tmp = '{}.tmp{}'.format(root, ext)
    image.save(tmp, quality=95) if ext.lower() in ('.jpg', '.jpeg') else image.save(tmp)
    os.replace(tmp, path)


def with_caption(pixels, text):
    """The image with a black strip on top holding `text` in white."""
    strip = Image.new('L', (pixels.shape[1], CAPTION_HEIGHT))
    ImageDraw.Draw(strip).text((4, 1), text, fill=255)
    strip = np.asarray(strip)[..., None].repeat(pixels.shape[2], axis=2)
    return np.concatenate([strip, pixels], axis=0)


def save_grid(images, path, grid_size, caption=None):
    grid = make_grid(images, grid_size)
    save_image(with_caption(grid, caption) if caption else grid, path)
