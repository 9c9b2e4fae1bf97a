"""Image grids and text strips, written to disk atomically (a half-written file never has the final name)."""
import numpy as np
from PIL import Image, ImageDraw

from common import atomic_path

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
    """Writes a uint8 [H, W, C] image, format from the extension, atomically."""
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    with atomic_path(path) as tmp:
        if path.lower().endswith(('.jpg', '.jpeg')):
            image.save(tmp, quality=95)
        else:
            image.save(tmp)


def text_strip(width, height, text, channels):
    """[height, width, channels] uint8: `text` in white on black, vertically centred, 4 pixels in."""
    strip = Image.new('L', (width, height))
    ImageDraw.Draw(strip).text((4, max(0, height // 2 - 6)), text, fill=255)
    return np.asarray(strip)[..., None].repeat(channels, axis=2)


def with_caption(pixels, text):
    """The image with a black strip on top holding `text` in white."""
    return np.concatenate([text_strip(pixels.shape[1], CAPTION_HEIGHT, text, pixels.shape[2]), pixels], axis=0)


def save_grid(images, path, grid_size, caption=None):
    grid = make_grid(images, grid_size)
    save_image(with_caption(grid, caption) if caption else grid, path)
