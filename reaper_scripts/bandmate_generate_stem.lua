-- @description Bandmate: Generate stem at edit cursor
-- @about Asks which stems, how many bars, genre and prompt, then has the Bandmate daemon generate them at the
--   project's tempo and meter at the edit cursor, in the key of the last analysis (or the one you type), over its
--   chords. Each stem lands as a MIDI item on a new track at the edit cursor; the rendered audio on another track.
-- Stock REAPER, Lua 5.4. Needs a running daemon (`bandmate serve`).

local function here()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then src = src:sub(2) end
  return src:match("^(.*)[/\\]") or "."
end
local bm = dofile(here() .. "/bandmate_common.lua")

local TITLE = "Bandmate: generate stem"
local STEMS = { drums = true, bass = true, keys = true, melody = true }
local STEM_ORDER = { "drums", "bass", "keys", "melody" }

local function trim(s) return (s or ""):match("^%s*(.-)%s*$") end

--- Ask the producer; returns the request fields or nil (cancelled).
local function ask()
  local last = bm.get_state("generate_inputs")
  local key = bm.get_state("key") or ""
  local defaults = { "bass", "8", "", "", key, "", "yes" }
  if last then
    local prev = bm.json.decode(last)
    if type(prev) == "table" then
      defaults = { prev.stems or "bass", tostring(prev.bars or 8), prev.genre or "", prev.prompt or "", key,
                   prev.chords or "", prev.render or "yes" }
    end
  end
  local have_chords = bm.get_state("chords") ~= nil
  -- captions are always comma-separated (so none may hold a comma); separator=\n applies to the values, which
  -- may hold commas (prompts, stem lists)
  local captions = table.concat({ "Stems: drums bass keys melody", "Bars", "Genre (optional)",
    "Prompt (optional)", "Key (e.g. E:minor)",
    have_chords and "Chords (blank: last analysis)" or "Chords (e.g. C G | Am F)", "Render audio (yes/no)",
    "separator=\n", "extrawidth=220" }, ",")
  local ok, answer = reaper.GetUserInputs(TITLE, 7, captions, table.concat(defaults, "\n"))
  if not ok then return nil end
  local f = {}
  for v in (answer .. "\n"):gmatch("(.-)\n") do f[#f + 1] = trim(v) end
  return { stems = f[1] or "", bars = f[2] or "", genre = f[3] or "", prompt = f[4] or "", key = f[5] or "",
           chords = f[6] or "", render = f[7] or "" }
end

local function validate(input)
  local stems = {}
  for s in input.stems:lower():gmatch("[^,%s]+") do
    if not STEMS[s] then return nil, "Unknown stem '" .. s .. "': choose from drums, bass, keys, melody." end
    stems[#stems + 1] = s
  end
  if #stems == 0 then return nil, "Name at least one stem: drums, bass, keys or melody." end
  local bars = tonumber(input.bars)
  if not bars or bars < 1 or bars > 256 or bars ~= math.floor(bars) then
    return nil, "Bars must be a whole number from 1 to 256, not '" .. input.bars .. "'."
  end
  if input.key ~= "" and not input.key:match("^[A-Ga-g][b#]?[:%s]?%a*$") then
    return nil, "Key '" .. input.key .. "' is not a key such as E:minor or Bb:major."
  end
  local render = input.render:lower()
  if render ~= "" and not ({ yes = true, y = true, no = true, n = true })[render] then
    return nil, "Render audio: answer yes or no, not '" .. input.render .. "'."
  end
  return stems, math.floor(bars)
end

--- Insert one stem's notes JSON as a MIDI item at `cursor_qn` on a new track. Returns the item, notes inserted.
local function insert_midi(stem, notes_doc, cursor_qn, after_index)
  local length_beats = tonumber(notes_doc.length_beats) or 0
  local last_end = 0
  for _, n in ipairs(notes_doc.notes or {}) do
    last_end = math.max(last_end, (tonumber(n.start_time) or 0) + (tonumber(n.duration) or 0))
  end
  if length_beats <= 0 then length_beats = math.max(last_end, 1) end
  local track, idx = bm.new_track(after_index, "Bandmate " .. stem)
  local t0 = reaper.TimeMap2_QNToTime(0, cursor_qn)
  local t1 = reaper.TimeMap2_QNToTime(0, cursor_qn + length_beats)
  local item = reaper.CreateNewMIDIItemInProj(track, t0, t1, false)
  local take = reaper.GetActiveTake(item)
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", "Bandmate " .. stem, true)
  local default_chan = tonumber(bm.val(notes_doc.channel)) or (stem == "drums" and 9 or 0)
  local program = tonumber(bm.val(notes_doc.program))
  if program and stem ~= "drums" then -- General MIDI program, so a GM synth plays the right instrument
    reaper.MIDI_InsertCC(take, false, false, 0, 0xC0, default_chan, math.floor(program) & 127, 0)
  end
  local count = 0
  for _, n in ipairs(notes_doc.notes or {}) do
    local start = tonumber(n.start_time)
    local dur = tonumber(n.duration)
    local pitch = tonumber(n.pitch)
    if start and dur and pitch and dur > 0 and pitch >= 0 and pitch <= 127 then
      local a = reaper.MIDI_GetPPQPosFromProjQN(take, cursor_qn + start)
      local b = reaper.MIDI_GetPPQPosFromProjQN(take, cursor_qn + start + dur)
      local vel = math.max(1, math.min(127, math.floor(tonumber(n.velocity) or 96)))
      local chan = tonumber(bm.val(n.channel)) or default_chan
      reaper.MIDI_InsertNote(take, false, n.mute == true, a, b, math.floor(chan) & 15, math.floor(pitch), vel, true)
      count = count + 1
    end
  end
  reaper.MIDI_Sort(take)
  return item, count, idx
end

--- Put an audio file on a new track at time t. Returns the item or nil.
local function insert_audio(path, t, name, after_index)
  if not path or not bm.file_exists(path) then return nil end
  local track, idx = bm.new_track(after_index, name)
  local item = reaper.AddMediaItemToTrack(track)
  local take = reaper.AddTakeToMediaItem(item)
  local src = reaper.PCM_Source_CreateFromFile(path)
  if not src then return nil end
  reaper.SetMediaItemTake_Source(take, src)
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", name, true)
  reaper.SetMediaItemInfo_Value(item, "D_POSITION", t)
  local len = reaper.GetMediaSourceLength(src)
  reaper.SetMediaItemInfo_Value(item, "D_LENGTH", len)
  if reaper.UpdateItemInProject then reaper.UpdateItemInProject(item) end
  return item, idx
end

local function apply(result, cursor, cursor_qn)
  reaper.Undo_BeginBlock()
  reaper.PreventUIRefresh(1)
  local sel = reaper.GetSelectedTrack(0, 0)
  local after = sel and bm.track_index(sel) or (reaper.CountTracks(0) - 1)
  local summary = {}
  local stems = result.stems or {}
  local any = false
  for _, name in ipairs(STEM_ORDER) do
    local stem = stems[name]
    if type(stem) == "table" then
      local text = bm.val(stem.notes) and bm.read_file(stem.notes)
      local doc = text and bm.json.decode(text)
      if type(doc) == "table" then
        local _, count, idx = insert_midi(name, doc, cursor_qn, after)
        after = idx
        any = true
        summary[#summary + 1] = string.format("  %s: %d notes (MIDI %s)", name, count, tostring(bm.val(stem.midi)))
      else
        summary[#summary + 1] = "  " .. name .. ": notes file missing: " .. tostring(bm.val(stem.notes))
      end
    end
  end
  local mix = bm.val(result.audio)
  if mix then
    local _, idx = insert_audio(mix, cursor, "Bandmate audio", after)
    if idx then after = idx end
  else
    for _, name in ipairs(STEM_ORDER) do
      local stem = stems[name]
      local audio = type(stem) == "table" and bm.val(stem.audio)
      if audio then
        local _, idx = insert_audio(audio, cursor, "Bandmate " .. name .. " audio", after)
        if idx then after = idx end
      end
    end
  end
  reaper.PreventUIRefresh(-1)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock("Bandmate: generate stem at edit cursor", -1)
  local head = string.format("Bandmate generated %s bars at %s BPM, %s, key %s", tostring(bm.val(result.bars)),
    tostring(bm.val(result.tempo)), tostring(bm.val(result.meter)), tostring(bm.val(result.key)))
  for _, n in ipairs(result.notices or {}) do summary[#summary + 1] = "  note: " .. tostring(n) end
  bm.log(head .. "\n" .. table.concat(summary, "\n"))
  if not any then bm.msg("Bandmate's answer held no stems to insert.", TITLE) end
end

local function main()
  local input = ask()
  if not input then return end
  local stems, bars = validate(input)
  if not stems then
    bm.msg(bars, TITLE)
    return
  end
  bm.set_state("generate_inputs", bm.json.encode({ stems = input.stems, bars = input.bars, genre = input.genre,
    prompt = input.prompt, chords = input.chords, render = input.render }))
  local cursor = reaper.GetCursorPosition()
  local num, den, bpm = reaper.TimeMap_GetTimeSigAtTime(0, cursor)
  local cursor_qn = reaper.TimeMap2_timeToQN(0, cursor)
  local request = { stems = bm.json.array(stems), bars = bars, tempo = bpm,
                    meter = string.format("%d/%d", math.floor(num), math.floor(den)) }
  local key = input.key ~= "" and input.key or bm.get_state("key")
  if key then request.key = key:gsub("%s+", ":") end
  local chords = input.chords ~= "" and input.chords or bm.get_state("chords")
  if chords and chords ~= "" then request.chords = chords end
  local tuning = tonumber(bm.get_state("tuning") or "")   -- render in tune with the analysed item
  if tuning then request.tuning = tuning end
  if input.genre ~= "" then request.genre = input.genre end
  if input.prompt ~= "" then request.prompt = input.prompt end
  if input.render:lower():sub(1, 1) == "n" then request.render = false end -- MIDI only: much quicker on a CPU
  local dir = bm.job_dir("generate")
  local args = { "generate", "--json", "--quiet", "--out-dir", dir, "--request", bm.json.encode(request) }
  bm.log("Bandmate: generating " .. table.concat(stems, ", ") .. string.format(" (%d bars at %.2f BPM)...", bars, bpm))
  bm.run_async(args, dir, function(res)
    if not res.ok then
      bm.msg("Generation failed: " .. res.message, TITLE)
      return
    end
    if type(res.value) ~= "table" or type(res.value.stems) ~= "table" then
      bm.msg("Bandmate answered with something that is not a generation result.", TITLE)
      return
    end
    apply(res.value, cursor, cursor_qn)
  end, bm.config().generate_timeout or 900)
end

bm.guard("Generate stem at edit cursor", main)
