"""Generate the bundled example sounds with NumPy alone (not with this repo's synths).

    python examples/sounds/make_examples.py      # writes kick.wav, snare.wav, tom.wav here

The targets of the README's main job must come from something other than ``synths/``;
sox and ffmpeg were not available on the machine that made them, so they come from this
independent recipe: a "909-style" kick (sine with an exponential pitch drop from 230 Hz
to 52 Hz, a 3 ms noise click, tanh saturation) and a snare (two detuned sines at 185 and
330 Hz plus band-passed noise, separate decays) and a 1 s tom (sine gliding from 160 Hz to
98 Hz, a second partial at 1.5x, a short band-passed noise attack).  Fixed seed: the files
are reproducible (each sound draws its noise after the previous ones).
"""
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import butter, sosfilt

SR = 44100
HERE = Path(__file__).resolve().parent


def kick(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.8 * SR)) / SR
    freq = 52 + (230 - 52) * np.exp(-t / 0.035)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    body = np.sin(phase) * np.exp(-t / 0.22)
    click = rng.standard_normal(len(t)) * np.exp(-t / 0.003) * 0.4
    click = sosfilt(butter(2, 3000, "lowpass", fs=SR, output="sos"), click)
    return np.tanh(1.6 * (body + click)) * 0.8


def snare(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.45 * SR)) / SR
    tone = (np.sin(2 * np.pi * 185 * t) + 0.6 * np.sin(2 * np.pi * 330 * t)) * np.exp(-t / 0.05)
    noise = sosfilt(butter(2, [1500, 9000], "bandpass", fs=SR, output="sos"),
                    rng.standard_normal(len(t))) * np.exp(-t / 0.11)
    x = 0.5 * tone + 0.9 * noise
    return x / np.abs(x).max() * 0.8


def tom(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(1.0 * SR)) / SR
    freq = 98 + (160 - 98) * np.exp(-t / 0.06)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    body = (np.sin(phase) + 0.25 * np.sin(1.5 * phase)) * np.exp(-t / 0.18)
    attack = sosfilt(butter(2, [400, 4000], "bandpass", fs=SR, output="sos"),
                     rng.standard_normal(len(t))) * np.exp(-t / 0.008)
    x = body + 0.5 * attack
    return x / np.abs(x).max() * 0.8


if __name__ == "__main__":
    rng = np.random.default_rng(808)
    for name, fn in (("kick", kick), ("snare", snare), ("tom", tom)):
        soundfile.write(str(HERE / f"{name}.wav"), fn(rng), SR, subtype="PCM_16")
        print("wrote", HERE / f"{name}.wav")
