-- @description Bandmate: Live chords (toggle)
-- @about A small window that names the chord playing now, with its Roman numeral and function in the key.
--   Run it again (or close the window, or press Esc) to stop. The daemon listens to the selected audio item's
--   file from the play position whenever REAPER plays (or, with `live_input` set in bandmate_config.lua, to an
--   audio input such as a loopback device carrying REAPER's output). REAPER's play position and tempo go to the
--   daemon as its beat clock, so every chord also carries the project beat.
-- Stock REAPER, Lua 5.4 (gfx window, defer loop). Needs a running daemon (`bandmate serve`).

local function here()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then src = src:sub(2) end
  return src:match("^(.*)[/\\]") or "."
end
local bm = dofile(here() .. "/bandmate_common.lua")

local TITLE = "Bandmate: live chords"
local EXT = bm.EXT
local CLOCK_EVERY_S = 0.2   -- how often the transport goes to the daemon
local HEARTBEAT_STALE_S = 3 -- an older heartbeat means no live-chords loop is running

local L = { -- the running loop's state
  proc = nil,          -- the background `bandmate live` job
  events_offset = 0,   -- bytes of the events file already read
  partial = "",
  chord = nil, key = nil, beat = nil, status = "starting", error = nil,
  last_clock = -1, stopping = false, window = false, source = nil,
  played_through = false, -- file source: the stream for this playback ended; wait for the next play
}

local section_id, command_id = -1, -1
do
  local ok, _, _, sec, cmd = pcall(reaper.get_action_context)
  if ok and sec then section_id, command_id = sec, cmd end
end

local function set_toggle(on)
  if command_id and command_id > 0 then
    reaper.SetToggleCommandState(section_id, command_id, on and 1 or 0)
    reaper.RefreshToolbar2(section_id, command_id)
  end
end

local function write_clock(stop)
  if not L.proc then return end
  local pos = reaper.GetPlayState() & 1 == 1 and reaper.GetPlayPosition() or reaper.GetCursorPosition()
  local _, _, bpm = reaper.TimeMap_GetTimeSigAtTime(0, pos)
  local clock = { tempo = bpm, beat = reaper.TimeMap2_timeToQN(0, pos), playing = reaper.GetPlayState() & 1 == 1,
                  stop = stop or false }
  bm.write_file(L.proc.clock, bm.json.encode(clock))
end

local function stop_process()
  if L.proc then
    write_clock(true)
    L.proc = nil
  end
end

--- Start `bandmate live` for the configured input device, or the item's file from project time `at`.
local function start_process(at)
  local dir = bm.job_dir("live")
  local clock = bm.join(dir, "clock.json")
  local events = bm.join(dir, "events.jsonl")
  local args = { "live", "--json", "--events-file", events, "--clock-file", clock }
  local cfg = bm.config()
  if cfg.live_input then
    args[#args + 1] = "--input"; args[#args + 1] = tostring(cfg.live_input)
  else
    local info = L.source
    local start = info.range_start + (at - info.pos) * info.playrate
    args[#args + 1] = "--input"; args[#args + 1] = info.file
    args[#args + 1] = "--start"; args[#args + 1] = string.format("%.4f", start)
    args[#args + 1] = "--speed"; args[#args + 1] = string.format("%.6g", info.playrate)
  end
  local key = bm.get_state("key")
  if key then args[#args + 1] = "--key"; args[#args + 1] = key end
  local tuning = bm.get_state("tuning")
  if tuning then args[#args + 1] = "--tuning"; args[#args + 1] = tuning end
  if cfg.live_latency then args[#args + 1] = "--latency"; args[#args + 1] = tostring(cfg.live_latency) end
  L.proc = { clock = clock, events = events }
  write_clock(false)
  local job, err = bm.spawn(args, dir)
  if not job then
    L.proc = nil
    L.error = err
    return
  end
  job.clock, job.events = clock, events
  L.proc = job
  L.events_offset, L.partial = 0, ""
  L.status = "listening"
end

local function handle_event(ev)
  if type(ev) ~= "table" then return end
  if ev.type == "chord" then
    L.chord = ev
    L.beat = bm.val(ev.beat)
    if bm.val(ev.key) then L.key = ev.key end
    reaper.SetExtState(EXT, "live_chord", bm.chord_marker_name(ev), false)
  elseif ev.type == "key" then
    L.key = bm.val(ev.key) or L.key
  elseif ev.type == "ended" then
    L.status = "ended (" .. tostring(bm.val(ev.reason) or "?") .. ")"
  elseif ev.type == "started" then
    L.status = "listening"
  elseif ev.type == "clipping" or ev.type == "xrun" then
    L.status = ev.type
  end
end

local function read_events()
  if not L.proc then return end
  local fh = io.open(L.proc.events, "rb")
  if not fh then return end
  fh:seek("set", L.events_offset)
  local data = fh:read("a") or ""
  fh:close()
  if data == "" then return end
  L.events_offset = L.events_offset + #data
  data = L.partial .. data
  local last_nl = data:match(".*()\n")
  if not last_nl then L.partial = data return end
  L.partial = data:sub(last_nl + 1)
  for line in data:sub(1, last_nl):gmatch("([^\n]*)\n") do
    if line:find("%S") then
      local ev = bm.json.decode(line)
      if ev then handle_event(ev) end
    end
  end
end

local function check_process()
  if not L.proc or not L.proc.rc then return end
  local rc = bm.read_file(L.proc.rc)
  if not rc then return end
  read_events()
  local code = tonumber(rc:match("%-?%d+")) or -1
  if code ~= 0 then
    local message = bm.explain_failure(code, bm.read_file(L.proc.err) or "")
    L.error = message
    bm.log("Bandmate live chords: " .. message)
  else
    L.status = "stream ended"
    L.played_through = true
  end
  L.proc = nil
end

local FONT = reaper.GetOS and reaper.GetOS():find("^Win") and "Arial" or "Helvetica"

local function draw()
  gfx.set(0.09, 0.09, 0.1, 1)
  gfx.rect(0, 0, gfx.w, gfx.h, 1)
  local x = 16
  if L.error then
    gfx.set(1, 0.45, 0.4, 1)
    gfx.setfont(2, FONT, 18)
    gfx.x, gfx.y = x, 16
    gfx.drawstr("Bandmate: " .. L.error:match("[^\n]*"))
    gfx.setfont(3, FONT, 14)
    gfx.x, gfx.y = x, 48
    gfx.set(0.8, 0.8, 0.8, 1)
    gfx.drawstr("Run the action again or close this window to stop.")
    gfx.update()
    return
  end
  local chord = L.chord
  gfx.setfont(1, FONT, 56)
  gfx.set(1, 1, 1, 1)
  gfx.x, gfx.y = x, 10
  gfx.drawstr(chord and bm.chord_symbol(chord) or "-")
  gfx.setfont(2, FONT, 24)
  gfx.set(0.55, 0.8, 1, 1)
  gfx.x, gfx.y = x, 80
  local rn = chord and bm.val(chord.roman_numeral)
  local fn = chord and bm.val(chord["function"])
  gfx.drawstr((rn or "") .. (fn and ("  " .. fn) or ""))
  gfx.setfont(3, FONT, 14)
  gfx.set(0.75, 0.75, 0.75, 1)
  gfx.x, gfx.y = x, gfx.h - 24
  local parts = { "key " .. tostring(L.key or "?"), L.status }
  if L.beat then parts[#parts + 1] = string.format("beat %.2f", L.beat) end
  gfx.drawstr(table.concat(parts, "   "))
  gfx.update()
end

local function finish()
  if L.stopping then return end
  L.stopping = true
  stop_process()
  reaper.SetExtState(EXT, "live_running", "0", false)
  reaper.SetExtState(EXT, "live_stop", "0", false)
  set_toggle(false)
  if L.window then gfx.quit() end
end

local function loop()
  if L.stopping then return end
  local ok = bm.guard("Live chords", function()
    local now = reaper.time_precise()
    reaper.SetExtState(EXT, "live_heartbeat", string.format("%.3f", now), false)
    if reaper.GetExtState(EXT, "live_stop") == "1" then finish() return end
    local ch = gfx.getchar()
    if ch < 0 or ch == 27 then finish() return end
    local playing = reaper.GetPlayState() & 1 == 1
    if not L.error then
      if bm.config().live_input then
        if not L.proc and not L.played_through then start_process(0) end
      else
        local info = L.source
        local pos = playing and reaper.GetPlayPosition() or reaper.GetCursorPosition()
        local inside = pos >= info.pos and pos < info.pos + info.len - 0.05
        if playing and inside and not L.proc and not L.played_through then
          start_process(pos)
        elseif not playing then
          if L.proc then stop_process() end
          L.played_through = false
          L.status = inside and "press play" or "move the cursor into the item and press play"
        end
      end
    end
    if L.proc and now - L.last_clock >= CLOCK_EVERY_S then
      write_clock(false)
      L.last_clock = now
    end
    read_events()
    check_process()
    draw()
    reaper.defer(loop)
  end)
  if not ok then finish() end
end

local function main()
  -- REAPER 7.03+: running the action again terminates this instance (atexit cleans up) and the toolbar shows it
  if reaper.set_action_options then
    reaper.set_action_options(1 | 4)
  else
    -- older REAPER: a second instance (ReaScript task control: "new instance") asks the running one to stop
    local beat = tonumber(reaper.GetExtState(EXT, "live_heartbeat"))
    if reaper.GetExtState(EXT, "live_running") == "1" and beat and reaper.time_precise() - beat < HEARTBEAT_STALE_S then
      reaper.SetExtState(EXT, "live_stop", "1", false)
      return
    end
  end
  reaper.SetExtState(EXT, "live_stop", "0", false)
  if not bm.config().live_input then
    if reaper.CountSelectedMediaItems(0) < 1 then
      set_toggle(false)
      bm.msg("Select the audio item to follow (or set live_input in bandmate_config.lua to listen to an audio "
        .. "input).", TITLE)
      return
    end
    local info, err = bm.item_source_info(reaper.GetSelectedMediaItem(0, 0))
    if info and info.is_midi then
      info, err = nil, "Live chords listen to audio: select an audio item (for a MIDI item, use Bandmate: "
        .. "Analyze selected item)."
    end
    if not info then
      set_toggle(false)
      bm.msg(err, TITLE)
      return
    end
    if info.reversed then
      set_toggle(false)
      bm.msg("Live chords cannot follow a reversed item.", TITLE)
      return
    end
    L.source = info
  end
  reaper.SetExtState(EXT, "live_running", "1", false)
  reaper.SetExtState(EXT, "live_heartbeat", string.format("%.3f", reaper.time_precise()), false)
  set_toggle(true)
  reaper.atexit(finish)
  gfx.init("Bandmate live chords", 420, 150)
  L.window = true
  loop()
end

bm.guard("Live chords", main)
