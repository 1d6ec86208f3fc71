"""Genre model: features, a fitted model file, readable reasons."""
from models.theory.genre import FEATURES, GENRES, classify_genre, fit_genre_model, genre_features, load_genre_model


def base(**kw):
    r = {"bpm": 120, "meter": {"numerator": 4, "denominator": 4}, "chords": [], "key": {"mode": "major"},
         "progressions": [], "bar_forms": [], "harmonic_rhythm": {"changes_per_bar": 1.0}}
    r.update(kw)
    return r


def test_features_are_complete_and_bounded():
    x = genre_features(base(swing_ratio=0.66, drum_density=30, has_drums=True))
    assert set(x) == set(FEATURES)
    assert x["house_tempo"] == 1.0 and x["drum_density"] == 1.0 and 0.9 < x["swing"] <= 1.0


def test_stored_model_has_all_genres_and_features():
    m = load_genre_model()
    assert m["genres"] == list(GENRES) and m["features"] == list(FEATURES) and len(GENRES) >= 8


def test_classification_gives_primary_secondary_and_reasons():
    chords = [{"start": 2.0 * i, "end": 2.0 * i + 2, "label": lab} for i, lab in
              enumerate(["G:7"] * 4 + ["C:7"] * 2 + ["G:7"] * 2 + ["D:7", "C:7", "G:7", "G:7"])]
    g = classify_genre(base(bpm=96, chords=chords, swing_ratio=0.66,
                            progressions=[{"name": "twelve_bar_blues", "roman": "I IV I V IV I", "count": 1}]))
    assert g["primary"] in GENRES and g["secondary"] in GENRES and g["primary"] != g["secondary"]
    assert 0 < g["confidence"] <= 1 and g["reasons"]
    assert abs(sum(g["probabilities"].values()) - 1) < 1e-3


def test_fit_separates_toy_data():
    rows, labels = [], []
    for i in range(20):
        rows.append(genre_features(base(bpm=124 + i % 3, drum_density=8, has_drums=True, four_on_floor=1.0)))
        labels.append("electronic")
        rows.append(genre_features(base(bpm=90, meter={"numerator": 3, "denominator": 4})))
        labels.append("waltz_march")
    m = fit_genre_model(rows, labels, steps=300)
    assert classify_genre(base(bpm=125, drum_density=8, has_drums=True, four_on_floor=1.0), m)["primary"] == \
        "electronic"
    assert classify_genre(base(bpm=92, meter={"numerator": 3, "denominator": 4}), m)["primary"] == "waltz_march"
