"""A stand-in `bandmate` command for `bandmate generate --json --out-dir DIR --request JSON`: writes per-stem notes
JSON files, MIDI placeholders and a short mix WAV in the shape of the generate job result, prints that result, and
keeps its argv in DIR/argv.json. Lets the tests check what the REAPER script asks for and how it inserts the
answer, independently of the daemon's generator."""
import json
import os
import struct
import sys
import wave

CHANNELS = {"drums": 9, "bass": 1, "keys": 2, "melody": 3}
PROGRAMS = {"drums": 0, "bass": 33, "keys": 0, "melody": 73}


def notes_for(stem, bars, beats_per_bar):
    notes = []
    for i in range(int(bars * beats_per_bar)):
        if stem == "drums":
            notes.append({"pitch": 36 if i % 2 == 0 else 38, "start_time": float(i), "duration": 0.25,
                          "velocity": 100, "mute": False})
        else:
            notes.append({"pitch": 45 + (i % 4) * 2, "start_time": i + 0.5, "duration": 0.5, "velocity": 80 + i % 7,
                          "mute": i == 3})
    return notes


def main(argv):
    if not argv or argv[0] != "generate":
        print("stub bandmate: only generate", file=sys.stderr)
        return 2
    out_dir = argv[argv.index("--out-dir") + 1]
    request = json.loads(argv[argv.index("--request") + 1])
    with open(os.path.join(out_dir, "argv.json"), "w") as fh:
        json.dump(argv, fh)
    stems = request["stems"] if isinstance(request["stems"], list) else request["stems"].split(",")
    num = int(str(request.get("meter", "4/4")).split("/")[0])
    bars = int(request.get("bars", 4))
    result = {"tempo": request["tempo"], "meter": request.get("meter", "4/4"), "key": request.get("key"),
              "bars": bars, "length_beats": bars * num, "plan": {}, "stems": {}, "variations": [],
              "out_dir": out_dir, "notices": ["stub generator"]}
    for stem in stems:
        doc = {"stem": stem, "program": PROGRAMS[stem], "channel": CHANNELS[stem], "tempo": request["tempo"],
               "meter": result["meter"], "key": result["key"], "length_beats": bars * num,
               "notes": notes_for(stem, bars, num)}
        path = os.path.join(out_dir, stem + ".notes.json")
        with open(path, "w") as fh:
            json.dump(doc, fh)
        midi = os.path.join(out_dir, stem + ".mid")
        open(midi, "wb").close()
        result["stems"][stem] = {"midi": midi, "audio": None, "notes": path, "program": PROGRAMS[stem],
                                 "channel": CHANNELS[stem], "n_notes": len(doc["notes"])}
    mix = os.path.join(out_dir, "mix.wav")
    seconds = bars * num * 60.0 / float(request["tempo"])
    with wave.open(mix, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<%dh" % int(seconds * 8000), *([0] * int(seconds * 8000))))
    result["audio"] = mix
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
