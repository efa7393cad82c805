"""Numpy renderer of synthetic laparoscopic frames (uint8 RGB, one frame per time step).

Every frame shows a textured tissue background tinted by the phase, drifting tissue blobs, and the
phase's instrument (shape, colour, motion); noise comes from camera drift, lighting, smoke, a
"confuser" instrument of another phase, brightness flicker and pixel noise (uniform, of the preset's standard deviation).
"""
from dataclasses import dataclass

import numpy as np

TISSUE = np.array([0.78, 0.38, 0.33])
METAL = np.array([0.62, 0.62, 0.66])


@dataclass(frozen=True)
class Visuals:
    """How distinct the phases look (synthetic-world-notes.md)."""

    d_tint: float
    d_col: float
    p_vis: float
    p_conf: float
    pixel_sigma: float
    blobs: int
    p_smoke: float


VISUAL_PRESETS = {
    "easy": Visuals(1.0, 1.0, 0.95, 0.10, 0.03, 1, 0.02),
    "default": Visuals(0.6, 0.6, 0.85, 0.30, 0.05, 3, 0.08),
    "hard": Visuals(0.25, 0.25, 0.70, 0.50, 0.08, 4, 0.15),
    "shape_only": Visuals(0.0, 0.0, 0.85, 0.30, 0.05, 3, 0.08),
}


def _smooth_noise(rng, coarse: int, size: int) -> np.ndarray:
    """Low-frequency texture (size, size) in [-1, 1]: bilinear upsampling of a coarse random grid."""
    grid = rng.uniform(-1, 1, (coarse, coarse))
    x = np.linspace(0, coarse - 1, size)
    i0 = np.minimum(np.floor(x).astype(int), coarse - 2)
    w = x - i0
    rows = grid[i0] * (1 - w)[:, None] + grid[i0 + 1] * w[:, None]
    return rows[:, i0] * (1 - w)[None, :] + rows[:, i0 + 1] * w[None, :]


def shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Boolean mask of an instrument shape; dx, dy are pixel offsets from its centre, r its radius."""
    d = np.sqrt(dx**2 + dy**2)
    if shape == "ring":
        return np.abs(d - 0.75 * r) < 0.25 * r
    if shape == "line":  # a hook: a thin bar at 45 degrees with a short tip
        u, v = (dx + dy) / np.sqrt(2), (dx - dy) / np.sqrt(2)
        return ((np.abs(u) < r) & (np.abs(v) < 0.18 * r)) | ((np.abs(u - r) < 0.18 * r) & (v > -0.1 * r) & (v < 0.5 * r))
    if shape == "cross":
        return ((np.abs(dx) < 0.22 * r) & (np.abs(dy) < r)) | ((np.abs(dy) < 0.22 * r) & (np.abs(dx) < r))
    if shape == "triangle":
        return (dy > -r) & (dy < r) & (np.abs(dx) < (dy + r) * 0.55)
    if shape == "rectangle":
        return (np.abs(dx) < r) & (np.abs(dy) < 0.55 * r)
    if shape == "circle":
        return d < 0.85 * r
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) < r
    raise ValueError(f"unknown shape {shape!r}")


def motion_path(motion: str, t: np.ndarray, rng, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre (x, y) and radius scale of an instrument over phase-local times t (seconds)."""
    c, a = size / 2, size * 0.22
    period = rng.uniform(4, 7)
    phase0 = rng.uniform(0, 2 * np.pi)
    w = 2 * np.pi * t / period + phase0
    one = np.ones_like(t, dtype=np.float64)
    cx0, cy0 = c + rng.uniform(-0.1, 0.1) * size, c + rng.uniform(-0.1, 0.1) * size
    if motion == "jitter":
        return cx0 + rng.normal(0, 1.5, t.shape), cy0 + rng.normal(0, 1.5, t.shape), one
    if motion == "horizontal":
        return c + a * np.sin(w), cy0 * one, one
    if motion == "vertical":
        return cx0 * one, c + a * np.sin(w), one
    if motion == "circle":
        return c + a * np.cos(w), c + a * np.sin(w), one
    if motion == "drift":
        direction = rng.uniform(0, 2 * np.pi)
        travel = (t * size * 0.06) % (2 * a) - a
        return c + travel * np.cos(direction), c + travel * np.sin(direction), one
    if motion == "walk":
        steps = rng.normal(0, size * 0.05, (2, len(t)))
        pos = np.clip(np.cumsum(steps, axis=1), -a, a)
        return c + pos[0], c + pos[1], one
    if motion == "pulse":
        return cx0 * one, cy0 * one, 1 + 0.35 * np.sin(w)
    raise ValueError(f"unknown motion {motion!r}")


def render_frames(phase_of_frame: np.ndarray, phases, visuals: Visuals, rng, size: int = 64,
                  fps: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one video.

    phase_of_frame: (T,) phase index of every frame (frames at `fps`).
    Returns (frames (T, size, size, 3) uint8, instrument_visible (T,) bool, confuser (T,) phase index or -1).
    """
    n = len(phase_of_frame)
    f32 = np.float32
    t = np.arange(n) / fps
    margin = size // 4
    full = size + 2 * margin
    texture = (np.stack([_smooth_noise(rng, 6, full) for _ in range(3)], -1) * 0.5
               + _smooth_noise(rng, 12, full)[..., None] * 0.5).astype(f32)
    drift = np.clip(np.cumsum(rng.normal(0, 0.6, (n, 2)), axis=0), -margin, margin).astype(int) + margin
    frame_texture = np.empty((n, size, size, 3), f32)
    for i, (y, x) in enumerate(drift):  # the camera drifts over the video's texture
        frame_texture[i] = texture[y:y + size, x:x + size]

    tint = np.array([p.tint for p in phases])[phase_of_frame]  # (T, 3)
    tissue = (TISSUE + visuals.d_tint * 0.6 * (tint - TISSUE)).astype(f32)
    lighting = rng.uniform(-0.08, 0.08, 3).astype(f32)
    img = tissue[:, None, None, :] * (1 + 0.25 * frame_texture) + lighting

    grid = np.arange(size, dtype=f32)
    for _ in range(visuals.blobs):  # darker tissue blobs: separable Gaussians
        start, vel = rng.uniform(0, size, 2), rng.normal(0, 0.8, 2)
        centre = ((start + vel * t[:, None]) % size).astype(f32)
        radius = f32(rng.uniform(0.08, 0.16) * size)
        gx = np.exp(-((grid[None] - centre[:, :1]) ** 2) / (2 * radius**2))
        gy = np.exp(-((grid[None] - centre[:, 1:]) ** 2) / (2 * radius**2))
        img *= (1 - 0.25 * gy[:, :, None] * gx[:, None, :])[..., None]

    yy, xx = np.mgrid[0:size, 0:size].astype(f32)
    visible = rng.random(n) < visuals.p_vis
    confuser = np.where(rng.random(n) < visuals.p_conf, rng.integers(0, len(phases), n), -1)
    confuser = np.where(confuser == phase_of_frame, (confuser + 1) % len(phases), confuser)
    radius = size * 0.14
    for k, phase in enumerate(phases):
        colour = (METAL + visuals.d_col * (np.array(phase.colour) - METAL)).astype(f32)
        own, other = (phase_of_frame == k) & visible, confuser == k
        for frames, scale in ((own, 1.0), (other, 0.7)):
            idx = np.flatnonzero(frames)
            if len(idx) == 0:
                continue
            cx, cy, rs = (v.astype(f32) for v in motion_path(phase.motion, t[idx], rng, size))
            if scale != 1.0:  # a confuser sits off-centre, smaller
                cx, cy = (cx + size * 0.3) % size, (cy + size * 0.3) % size
            mask = shape_mask(phase.shape, xx[None] - cx[:, None, None], yy[None] - cy[:, None, None],
                              (radius * scale * rs)[:, None, None])
            shade = 1 + 0.15 * (yy[None] - cy[:, None, None]) / size  # a little shading
            drawn = img[idx]
            drawn[mask] = colour * shade[mask][:, None]
            img[idx] = drawn

    smoke = rng.random(n) < visuals.p_smoke
    img[smoke] = 0.45 * img[smoke] + 0.55 * 0.85
    img *= rng.uniform(0.8, 1.2, n).astype(f32)[:, None, None, None]
    img += (rng.random(img.shape, dtype=f32) - f32(0.5)) * f32(visuals.pixel_sigma * 12**0.5)  # uniform, std sigma
    frames = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    return frames, visible, confuser
