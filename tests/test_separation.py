"""Source separation: Demucs's real model code with random weights (the released weights need a download), stems
of the input's exact length, a crossfade that reassembles the mix, and clear reasons when weights are missing."""
import os
import shutil
import urllib.error

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("demucs.htdemucs")
torch = pytest.importorskip("torch")

from models.analysis import separation  # noqa: E402
from models.analysis.separation import SeparationUnavailable, load_separator, separate  # noqa: E402

# The released architecture, scaled down so a test separates in seconds (same classes and code paths).
TINY = {"channels": 8, "dconv_comp": 4, "bottom_channels": 0, "t_layers": 1, "t_heads": 2}


class PassThrough(torch.nn.Module):
    """A 'separator' whose every stem is the mix: separate() must then give the input back, block seams
    included."""
    samplerate, audio_channels, segment = 44100, 2, 2.0
    sources = ["drums", "bass", "other", "vocals"]

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, mix):
        return (mix * self.scale)[:, None].expand(-1, len(self.sources), -1, -1)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """Every place htdemucs weights are looked for is an empty folder."""
    monkeypatch.delenv(separation.ENV_VAR, raising=False)
    monkeypatch.setattr(separation, "cache_dir", lambda: str(tmp_path / "cache" / "htdemucs"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    try:
        import huggingface_hub.constants
    except ImportError:  # not installed: that cache is not searched
        pass
    else:
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def test_tiny_htdemucs_writes_four_stems_of_the_input_length(tmp_path):
    model = separation.release_architecture(**TINY)
    y = (0.1 * np.random.default_rng(1).standard_normal(int(2.5 * 48000))).astype(np.float32)  # mono, 48 kHz
    stages = []
    stems = separate(y, 48000, str(tmp_path / "stems"), model=model, progress=lambda s, f: stages.append(f))
    assert list(stems) == ["drums", "bass", "other", "vocals"]
    for name, info in stems.items():
        audio, sr = sf.read(info["path"], always_2d=True)
        assert info["path"].endswith(name + ".flac") and sr == 48000
        assert audio.shape == (len(y), 1) and info["frames"] == len(y) and info["duration"] == 2.5
        assert np.all(np.isfinite(audio))
    assert stages and stages[-1] == 1.0


def test_blocks_crossfade_back_into_the_mix(tmp_path):
    sr = 44100
    t = np.arange(int(7.3 * sr)) / sr
    y = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 331 * t)], axis=1).astype(np.float32)
    stems = separate(y, sr, str(tmp_path), model=PassThrough(), block_seconds=3.0)  # blocks at 0, 3, 6 s
    for info in stems.values():
        audio, _ = sf.read(info["path"], always_2d=True, dtype="float32")
        assert audio.shape == y.shape
        assert np.max(np.abs(audio - y)) < 1e-4  # 24-bit FLAC, and seams that sum back to one


def test_resampled_stereo_stems_keep_the_length(tmp_path):
    y = (0.1 * np.random.default_rng(2).standard_normal((int(4.1 * 32000), 3))).astype(np.float32)
    stems = separate(y, 32000, str(tmp_path), model=PassThrough(), block_seconds=2.0)
    audio, sr = sf.read(stems["vocals"]["path"], always_2d=True)
    assert sr == 32000 and audio.shape == (y.shape[0], 2)


def test_bad_audio_is_a_bad_params_error(tmp_path):
    from protocol import BandmateError

    for y, sr in [(np.zeros((0, 2), np.float32), 44100), (np.full(100, np.nan, np.float32), 44100),
                  (np.zeros(100, np.float32), 0), ([0.0] * 10, 44100)]:
        with pytest.raises(BandmateError) as err:
            separate(y, sr, str(tmp_path), model=PassThrough())
        assert err.value.code == "bad_params"


def test_missing_weights_say_where_they_were_looked_for_and_how_to_fetch(no_weights):
    with pytest.raises(SeparationUnavailable) as err:
        load_separator()
    msg = str(err.value)
    assert msg.startswith("separation unavailable: htdemucs weights not found in ")
    assert str(no_weights / "cache" / "htdemucs") in msg and str(no_weights / "hub") in msg
    assert "bandmate models fetch htdemucs" in msg


def test_a_configured_path_that_does_not_exist_is_named(no_weights, monkeypatch):
    monkeypatch.setenv(separation.ENV_VAR, str(no_weights / "nowhere.th"))
    with pytest.raises(SeparationUnavailable, match="nowhere.th"):
        load_separator()
    with pytest.raises(SeparationUnavailable, match="elsewhere"):  # the config wins over the environment
        load_separator({"models": {"htdemucs": str(no_weights / "elsewhere")}})


def _save_package(model, path):
    """A checkpoint in Demucs's package format (what its release .th files hold)."""
    args, kwargs = model._init_args_kwargs
    torch.save({"klass": type(model), "args": args, "kwargs": kwargs, "state": model.state_dict()}, path)


def test_weights_load_from_a_demucs_local_repo_folder(no_weights, tmp_path):
    release = separation.release_files()
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copyfile(release["yaml"], repo / "htdemucs.yaml")
    original = separation.release_architecture(seed=3, **TINY).models[0]
    _save_package(original, repo / (release["signatures"][0] + ".th"))
    model = load_separator({"htdemucs": str(repo)})
    assert model.sources == ["drums", "bass", "other", "vocals"] and model.samplerate == 44100
    for a, b in zip(original.state_dict().values(), model.models[0].state_dict().values()):
        assert torch.equal(a, b)
    (repo / (release["signatures"][0] + ".th")).unlink()
    with pytest.raises(SeparationUnavailable, match="lacks the weights for signature 955717e8"):
        load_separator({"htdemucs": str(repo)})


def test_a_damaged_checkpoint_fails_its_checksum(no_weights, tmp_path):
    bad = tmp_path / "955717e8-8726e21a.th"
    bad.write_bytes(b"not a model")
    with pytest.raises(SeparationUnavailable, match="damaged"):
        load_separator(str(bad))


def test_fetch_without_internet_gives_a_clear_error(no_weights, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(separation.urllib.request, "urlopen", offline)
    with pytest.raises(SeparationUnavailable) as err:
        separation.fetch(str(no_weights / "dest"))
    msg = str(err.value)
    assert "cannot download htdemucs weights from https://" in msg and "name resolution" in msg
    assert separation.ENV_VAR in msg
    assert not [f for f in os.listdir(no_weights / "dest") if f.endswith(".part")]  # no half files left


def test_cli_models_fetch_reports_the_failure(no_weights, monkeypatch, capsys):
    from bridge.cli import main

    monkeypatch.setattr(separation.urllib.request, "urlopen",
                        lambda url, timeout=None: (_ for _ in ()).throw(urllib.error.URLError("offline")))
    assert main(["models", "fetch", "htdemucs", "--to", str(no_weights / "d")]) == 1
    assert "error not_available: separation unavailable: cannot download" in capsys.readouterr().err


def test_the_registry_loader_reports_unavailable_with_the_reason(no_weights):
    from types import SimpleNamespace

    from models.registry import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="htdemucs weights not found"):
        separation.registry_loader(SimpleNamespace(kind="cpu", torch_device="cpu"))


def test_separate_file_reads_the_asked_range(tmp_path):
    sr = 22050
    y = (0.1 * np.random.default_rng(4).standard_normal((3 * sr, 2))).astype(np.float32)
    sf.write(str(tmp_path / "mix.wav"), y, sr, subtype="FLOAT")
    stems = separation.separate_file(PassThrough(), str(tmp_path / "mix.wav"), str(tmp_path / "stems"),
                                     start=1.0, end=2.5)
    audio, got_sr = sf.read(stems["bass"]["path"], always_2d=True)
    assert got_sr == sr and audio.shape == (int(1.5 * sr), 2)
