-- @description Bandmate: Analyze selected item
-- @about Sends the selected item's audio (the part the item plays) to the Bandmate daemon and writes the answer
--   into the project: regions for sections, markers for chords with Roman numerals, a MIDI chord track, and the
--   key and tempo in the project's ext state (section "Bandmate") for the other Bandmate actions.
-- Stock REAPER, Lua 5.4. Needs a running daemon (`bandmate serve`).

local function here()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then src = src:sub(2) end
  return src:match("^(.*)[/\\]") or "."
end
local bm = dofile(here() .. "/bandmate_common.lua")

local TITLE = "Bandmate: analyze selected item"
local CHORD_COLOR = 0 -- theme default
local SECTION_COLORS = { 0x1E90FF, 0xFF8C00, 0x32CD32, 0xBA55D3, 0xDC143C, 0x20B2AA, 0xDAA520 }

--- DAW context of the item: the project tempo (at the file's own speed, so divided by the playrate) and meter at
--- its start, which narrow the daemon's beat search (`tempo_hint = false` in bandmate_user.lua sends neither, for
--- audio that does not follow the project tempo), and warp markers pinning file seconds to project beats at the
--- item's ends and tempo changes, so the answer also carries project beats. Never the key: a DAW key overrides
--- the daemon's own key finding.
local function daw_context(info)
  local num, den, bpm = reaper.TimeMap_GetTimeSigAtTime(0, info.pos)
  local ctx = {}
  if bm.config().tempo_hint ~= false then
    ctx.tempo = bpm / info.playrate
    ctx.meter = bm.json.array({ math.floor(num), math.floor(den) })
  end
  if not info.reversed then
    local markers = bm.json.array({})
    local function add(file_t)
      local proj_t = bm.file_to_project(info, file_t)
      local qn = reaper.TimeMap2_timeToQN(0, proj_t)
      local prev = markers[#markers]
      if not prev or (file_t > prev[2] + 1e-3 and qn > prev[1] + 1e-6) then
        markers[#markers + 1] = bm.json.array({ qn, file_t })
      end
    end
    add(info.range_start)
    local n = reaper.CountTempoTimeSigMarkers and reaper.CountTempoTimeSigMarkers(0) or 0
    for i = 0, n - 1 do
      local ok2, tpos = reaper.GetTempoTimeSigMarker(0, i)
      if ok2 and tpos > info.pos and tpos < info.pos + info.len then
        add(info.range_start + (tpos - info.pos) * info.playrate)
      end
    end
    add(info.range_end)
    if #markers >= 2 then ctx.warp_markers = markers end
  end
  return ctx
end

--- Delete the regions and markers this action made for the item last time ("R12@10.500000 M7@11.250000 ..."),
--- only where a marker with that number still sits at that position (never one the producer made or moved).
local function remove_previous_markers(guid)
  local old = bm.get_state("markers:" .. guid)
  if not old then return end
  local wanted = {}
  for kind, id, pos in old:gmatch("([RM])(%d+)@([%d.%-]+)") do
    wanted[kind .. id] = tonumber(pos)
  end
  local doomed = {}
  local _, n = reaper.CountProjectMarkers(0)
  for i = 0, (n or 0) * 2 + 64 do
    local ok, isrgn, pos, _, _, id = reaper.EnumProjectMarkers3(0, i)
    if not ok or ok == 0 then break end
    local want = wanted[(isrgn and "R" or "M") .. tostring(math.floor(id))]
    if want and math.abs(want - pos) < 1e-4 then doomed[#doomed + 1] = { id, isrgn } end
  end
  for _, d in ipairs(doomed) do reaper.DeleteProjectMarker(0, d[1], d[2]) end
end

local function marker_ref(kind, idx, pos)
  return string.format("%s%d@%.6f", kind, idx, pos)
end

--- The chord item this action made for the item last time, if it is still in the project.
local function previous_chord_item(guid)
  local old = bm.get_state("chord_item:" .. guid)
  if not old then return nil end
  for i = 0, reaper.CountMediaItems(0) - 1 do
    local it = reaper.GetMediaItem(0, i)
    if bm.item_guid(it) == old then return it end
  end
  return nil
end

local function clamp(t, info)
  return math.max(info.pos, math.min(info.pos + info.len, t))
end

local function apply(song, info, result_path)
  local guid = bm.item_guid(info.item)
  reaper.Undo_BeginBlock()
  reaper.PreventUIRefresh(1)
  remove_previous_markers(guid)
  local made = {}

  -- sections -> regions
  for _, s in ipairs(song.sections or {}) do
    local a = clamp(bm.analysis_to_project(info, s.start), info)
    local b = clamp(bm.analysis_to_project(info, s["end"]), info)
    if a > b then a, b = b, a end
    if b - a > 1e-3 then
      local letter = tostring(bm.val(s.letter) or "")
      local rgb = SECTION_COLORS[(letter:byte(1) or 65) % #SECTION_COLORS + 1]
      local color = reaper.ColorToNative((rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255) | 0x1000000
      local idx = reaper.AddProjectMarker2(0, true, a, b, bm.section_name(s), -1, color)
      if idx and idx >= 0 then made[#made + 1] = marker_ref("R", idx, a) end
    end
  end

  -- chords -> markers, and a MIDI item with the chord tones on a new track
  local chords = {}
  for _, c in ipairs(song.chords or {}) do
    if bm.parse_harte(c.label) then chords[#chords + 1] = c end
  end
  for _, c in ipairs(chords) do
    local t = bm.analysis_to_project(info, info.reversed and c["end"] or c.start)
    if t >= info.pos - 1e-6 and t < info.pos + info.len then
      local idx = reaper.AddProjectMarker2(0, false, t, 0, bm.chord_marker_name(c), -1, CHORD_COLOR)
      if idx and idx >= 0 then made[#made + 1] = marker_ref("M", idx, t) end
    end
  end
  bm.set_state("markers:" .. guid, table.concat(made, " "))

  local track = nil
  local n_notes = 0
  if #chords > 0 then
    local name = "Bandmate chords"
    local file_name = info.file:match("([^/\\]+)$") or info.file
    local prev = previous_chord_item(guid)
    if prev then -- analysed before: the new chords replace the old ones on the same track
      track = reaper.GetMediaItem_Track(prev)
      reaper.DeleteTrackMediaItem(track, prev)
    else
      track = bm.new_track(bm.track_index(info.track), name)
    end
    local item = reaper.CreateNewMIDIItemInProj(track, info.pos, info.pos + info.len, false)
    bm.set_state("chord_item:" .. guid, bm.item_guid(item))
    local take = reaper.GetActiveTake(item)
    reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", "Chords of " .. file_name, true)
    for _, c in ipairs(chords) do
      local a = clamp(bm.analysis_to_project(info, c.start), info)
      local b = clamp(bm.analysis_to_project(info, c["end"]), info)
      if a > b then a, b = b, a end
      if b - a > 1e-3 then
        local ppq_a = reaper.MIDI_GetPPQPosFromProjTime(take, a)
        local ppq_b = reaper.MIDI_GetPPQPosFromProjTime(take, b)
        for _, pitch in ipairs(bm.chord_pitches(c.label)) do
          reaper.MIDI_InsertNote(take, false, false, ppq_a, ppq_b, 0, pitch, 90, true)
          n_notes = n_notes + 1
        end
      end
    end
    reaper.MIDI_Sort(take)
  end

  -- key, tempo, meter and the chords for the other actions
  local key = song.key and bm.val(song.key.label)
  if key then bm.set_state("key", key) end
  if song.bpm then bm.set_state("tempo", string.format("%.2f", song.bpm * info.playrate)) end
  if song.meter and song.meter.numerator then
    bm.set_state("meter", string.format("%d/%d", song.meter.numerator, song.meter.denominator))
  end
  local tuning = song.tuning and bm.val(song.tuning.cents)   -- live chords read music off A440 best with it
  bm.set_state("tuning", tuning and string.format("%.1f", tuning) or "")
  bm.set_state("chords", bm.chords_per_bar(song) or "")
  bm.set_state("analysis", result_path)
  bm.set_state("analysis_item", guid)

  reaper.PreventUIRefresh(-1)
  reaper.UpdateArrange()
  if reaper.UpdateTimeline then reaper.UpdateTimeline() end
  reaper.Undo_EndBlock("Bandmate: analyze selected item", -1)

  -- a short reading in the console
  local lines = { "Bandmate: " .. (info.file:match("([^/\\]+)$") or info.file) }
  if song.bpm then
    lines[#lines + 1] = string.format("  tempo %.1f BPM%s, meter %s", song.bpm * info.playrate,
      info.playrate ~= 1 and string.format(" (at playrate %.3g)", info.playrate) or "",
      song.meter and (tostring(song.meter.numerator) .. "/" .. tostring(song.meter.denominator)) or "?")
  end
  if key then lines[#lines + 1] = "  key " .. key end
  local names = {}
  for i, c in ipairs(chords) do
    if i > 24 then names[#names + 1] = "..." break end
    names[#names + 1] = bm.chord_marker_name(c)
  end
  if #names > 0 then lines[#lines + 1] = "  chords: " .. table.concat(names, ", ") end
  local secs = {}
  for _, s in ipairs(song.sections or {}) do secs[#secs + 1] = bm.section_name(s) end
  if #secs > 0 then lines[#lines + 1] = "  sections: " .. table.concat(secs, ", ") end
  if info.reversed then lines[#lines + 1] = "  (reversed item: the source was analysed forwards, times mirrored)" end
  for _, n in ipairs(song.notices or {}) do lines[#lines + 1] = "  note: " .. tostring(n) end
  lines[#lines + 1] = "  result: " .. result_path
  bm.log(table.concat(lines, "\n"))
  return { regions = #(song.sections or {}), chords = #chords, notes = n_notes }
end

local function main()
  if reaper.CountSelectedMediaItems(0) < 1 then
    bm.msg("Select an audio item to analyse first.", TITLE)
    return
  end
  local item = reaper.GetSelectedMediaItem(0, 0)
  local info, err = bm.item_source_info(item)
  local dir
  if not info and item and reaper.GetActiveTake(item) and reaper.TakeIsMIDI(reaper.GetActiveTake(item)) then
    -- a MIDI item stored in the project: analyse its notes, written out as a MIDI file
    dir = bm.job_dir("analyze")
    info, err = bm.export_take_midi(item, bm.join(dir, "take.mid"))
  end
  if not info then
    bm.msg(err, TITLE)
    return
  end
  if info.range_end - info.range_start < 0.5 then
    bm.msg("The selected item plays less than half a second of its source: nothing to analyse.", TITLE)
    return
  end
  dir = dir or bm.job_dir("analyze")
  local args = { "analyze", info.file, "--json", "--quiet", "--out-dir", dir,
                 "--context", bm.json.encode(daw_context(info)) }
  if not info.exported then
    for _, a in ipairs({ "--start", string.format("%.6f", info.range_start),
                         "--end", string.format("%.6f", info.range_end) }) do args[#args + 1] = a end
  end
  bm.log(string.format("Bandmate: analysing %s (%.2f-%.2f s of the file)...", info.file, info.range_start,
    info.range_end))
  bm.set_state("status", "analyzing")
  bm.run_async(args, dir, function(res, job)
    bm.set_state("status", "")
    if not res.ok then
      bm.msg("Analysis failed: " .. res.message, TITLE)
      return
    end
    local song = res.value
    if type(song) ~= "table" or type(song.source) ~= "table" then
      bm.msg("Bandmate answered with something that is not a song description.", TITLE)
      return
    end
    -- the item may have been deleted while the daemon worked
    if not reaper.ValidatePtr2(0, info.item, "MediaItem*") then
      bm.msg("The analysed item is gone; nothing was written.", TITLE)
      return
    end
    apply(song, info, job.out)
  end, bm.config().analyze_timeout or 900)
end

bm.guard("Analyze selected item", main)
