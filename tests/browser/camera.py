"""A fake phone camera for Chromium: a still image played as a few seconds of Y4M video.

Chromium's `--use-file-for-fake-video-capture=FILE.y4m` makes getUserMedia play the file
(looping), so the page's decoder sees frames as it would from a real camera.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import unavailable

FFMPEG = "ffmpeg"


def camera_args(video: Path) -> tuple[str, ...]:
    """The Chromium flags for a camera that films `video`, allowed without a prompt."""
    return ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}")


def still_video(image: Path, video: Path, *, width: int = 640, height: int = 480,
                subject_px: int = 240, seconds: int = 3, fps: int = 10) -> Path:
    """`image` as the subject of a `width`×`height` Y4M video: scaled smoothly (not pixel
    doubled) to `subject_px` on its longer side, centred on a grey background, as a phone
    held over another phone's screen would film it."""
    if shutil.which(FFMPEG) is None:
        unavailable("the fake camera needs ffmpeg (apt-get install ffmpeg)")
    scale = (f"scale={subject_px}:{subject_px}:force_original_aspect_ratio=decrease"
             ":flags=bilinear")
    pad = f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=0xd8d8d8"
    subprocess.run([FFMPEG, "-loglevel", "error", "-y", "-loop", "1", "-i", str(image),
                    "-vf", f"{scale},{pad},format=yuv420p", "-t", str(seconds), "-r", str(fps),
                    str(video)], check=True, timeout=60)
    with video.open("rb") as f:
        header = f.read(10)
    assert header == b"YUV4MPEG2 ", f"ffmpeg wrote no Y4M video to {video}: {header!r}"
    return video
