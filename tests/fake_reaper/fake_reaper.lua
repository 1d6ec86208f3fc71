-- A fake `reaper` API table for running the Bandmate ReaScripts outside REAPER (Lua 5.4, lupa or lua5.4).
--
-- It models just enough of a project: one constant tempo and meter, tracks with items, takes and sources
-- (files, sections, reversed sections, MIDI), project markers and regions, ext state, MIDI notes in PPQ (960 per
-- quarter note, from the item start), and the UI calls (message boxes, console, GetUserInputs answers queued by the
-- test, a gfx window that records what it draws). defer() queues functions; F.run_defer() runs the queue once.
-- Only functions of stock REAPER are defined: a script that touches anything else gets nil, and the name is
-- recorded in F.S.missing.

local F = {}
local S = {
  tempo = 120.0, num = 4, den = 4,
  tracks = {}, markers = {}, next_id = { [true] = 1, [false] = 1 },
  proj_ext = {}, ext = {},
  messages = {}, console = {}, inputs = {}, input_prompts = {},
  defer_queue = {}, atexit = {}, undo = {},
  play_state = 0, play_pos = 0.0, cursor = 0.0,
  toggles = {}, action_options = 0, command_id = 55555, section_id = 0, script_path = "",
  os = "Linux", project_path = "/tmp", resource_path = "/tmp",
  gfx = { open = false, strings = {}, frame = {}, char = 0, inits = 0 },
  missing = {}, guid_n = 0,
}
F.S = S
F.now = function() return os.time() end

local PPQ = 960

local function guid()
  S.guid_n = S.guid_n + 1
  return string.format("{00000000-0000-0000-0000-%012d}", S.guid_n)
end

local function wav_length(path)
  local fh = io.open(path, "rb")
  if not fh then return 0 end
  local data = fh:read(1 << 20) or ""
  fh:close()
  if data:sub(1, 4) ~= "RIFF" or data:sub(9, 12) ~= "WAVE" then return 0 end
  local pos, byte_rate = 13, nil
  while pos + 8 <= #data do
    local id = data:sub(pos, pos + 3)
    local size = string.unpack("<I4", data, pos + 4)
    if id == "fmt " then
      byte_rate = string.unpack("<I4", data, pos + 16)
    elseif id == "data" then
      local fsize = 0
      local f2 = io.open(path, "rb")
      if f2 then fsize = f2:seek("end") f2:close() end
      size = math.min(size, fsize - (pos + 7))
      return byte_rate and size / byte_rate or 0
    end
    pos = pos + 8 + size + (size % 2)
  end
  return 0
end

-- ---- model builders for tests ------------------------------------------------------------------------------
function F.file_source(path, length)
  return { kind = "file", file = path, type = path:lower():match("%.mid$") and "MIDI" or "WAVE",
           length = length or wav_length(path) }
end

function F.section_source(parent, offs, len, rev)
  return { kind = "section", type = "SECTION", parent = parent, offs = offs, len = len, rev = rev or false,
           length = len }
end

function F.add_track(name)
  local tr = { name = name or "", items = {} }
  S.tracks[#S.tracks + 1] = tr
  return tr
end

function F.add_item(track, pos, len, source, startoffs, playrate)
  local item = { track = track, pos = pos, len = len, takes = {}, active = 1, selected = false, guid = guid() }
  item.takes[1] = { item = item, source = source, startoffs = startoffs or 0, playrate = playrate or 1,
                    notes = {}, ccs = {}, name = "", is_midi = source and source.type == "MIDI" and not source.file }
  track.items[#track.items + 1] = item
  return item
end

function F.select_item(item, on) item.selected = on ~= false end

function F.queue_input(ok, text) S.inputs[#S.inputs + 1] = { ok = ok, text = text } end

function F.run_defer()
  local q = S.defer_queue
  S.defer_queue = {}
  for _, fn in ipairs(q) do fn() end
  return #q
end

--- What REAPER does when a running deferred script's action is launched again with set_action_options(1):
--- the running instance is terminated (atexit runs) and the new launch does not run.
function F.relaunch(path)
  if (S.action_options & 1) ~= 0 and #S.defer_queue > 0 then
    S.defer_queue = {}
    local fns = S.atexit
    S.atexit = {}
    for _, fn in ipairs(fns) do fn() end
    return true, nil
  end
  return F.run_script(path)
end

function F.run_script(path)
  S.script_path = path
  local ok, err = pcall(dofile, path)
  return ok, err
end

function F.all_items()
  local out = {}
  for _, tr in ipairs(S.tracks) do for _, it in ipairs(tr.items) do out[#out + 1] = it end end
  return out
end

function F.track_by_name(name)
  for i, tr in ipairs(S.tracks) do if tr.name == name then return tr, i end end
  return nil
end

local function qn(t) return t * S.tempo / 60.0 end
local function time_of_qn(q) return q * 60.0 / S.tempo end

-- ---- the API -------------------------------------------------------------------------------------------------
local R = {}

function R.GetOS() return S.os end
function R.GetResourcePath() return S.resource_path end
function R.GetProjectPath() return S.project_path end
function R.time_precise() return F.now() end
function R.file_exists(path) local fh = io.open(path, "rb") if fh then fh:close() return true end return false end
function R.RecursiveCreateDirectory(path, _)
  os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'")
  return 1
end
function R.ExecProcess(cmd, timeout)
  if timeout and timeout < 0 then
    os.execute(cmd .. " &")
    return ""
  end
  local p = io.popen(cmd)
  local out = p:read("a")
  local _, _, code = p:close()
  return tostring(code or 0) .. "\n" .. out
end

function R.ShowMessageBox(msg, title, typ)
  S.messages[#S.messages + 1] = { msg = msg, title = title, type = typ }
  return 1
end
function R.MB(msg, title, typ) return R.ShowMessageBox(msg, title, typ) end
function R.ShowConsoleMsg(s) S.console[#S.console + 1] = s end
function R.GetUserInputs(title, n, captions, defaults)
  S.input_prompts[#S.input_prompts + 1] = { title = title, n = n, captions = captions, defaults = defaults }
  local a = table.remove(S.inputs, 1)
  if not a then return false, "" end
  return a.ok, a.text
end

function R.defer(fn) S.defer_queue[#S.defer_queue + 1] = fn end
function R.atexit(fn) S.atexit[#S.atexit + 1] = fn end
function R.runloop(fn) R.defer(fn) end
function R.get_action_context()
  return false, S.script_path, S.section_id, S.command_id, -1, -1, -1
end
function R.set_action_options(flags)
  if flags & 8 ~= 0 then S.toggles[S.command_id] = 0 end
  if flags & 4 ~= 0 then S.toggles[S.command_id] = 1 end
  S.action_options = S.action_options | (flags & 3)
end
function R.SetToggleCommandState(sec, cmd, state) S.toggles[cmd] = state return true end
function R.GetToggleCommandStateEx(sec, cmd) return S.toggles[cmd] or -1 end
function R.RefreshToolbar2() end

function R.Undo_BeginBlock() S.undo[#S.undo + 1] = "begin" end
function R.Undo_EndBlock(desc, _) S.undo[#S.undo + 1] = desc end
function R.PreventUIRefresh() end
function R.UpdateArrange() end
function R.UpdateTimeline() end
function R.UpdateItemInProject() end
function R.TrackList_AdjustWindows() end

-- ext state
function R.SetProjExtState(_, sec, key, val)
  S.proj_ext[sec] = S.proj_ext[sec] or {}
  if val == "" then S.proj_ext[sec][key] = nil else S.proj_ext[sec][key] = val end
  return 1
end
function R.GetProjExtState(_, sec, key)
  local v = S.proj_ext[sec] and S.proj_ext[sec][key]
  if v == nil then return 0, "" end
  return 1, v
end
function R.SetExtState(sec, key, val, _) S.ext[sec .. "/" .. key] = val end
function R.GetExtState(sec, key) return S.ext[sec .. "/" .. key] or "" end
function R.HasExtState(sec, key) return S.ext[sec .. "/" .. key] ~= nil end
function R.DeleteExtState(sec, key) S.ext[sec .. "/" .. key] = nil end

-- transport and time
function R.GetPlayState() return S.play_state end
function R.GetPlayPosition() return S.play_pos end
function R.GetPlayPosition2() return S.play_pos end
function R.GetCursorPosition() return S.cursor end
function R.SetEditCurPos(t) S.cursor = t end
function R.Master_GetTempo() return S.tempo end
function R.TimeMap_GetTimeSigAtTime(_, _) return S.num, S.den, S.tempo end
function R.TimeMap2_timeToQN(_, t) return qn(t) end
function R.TimeMap2_QNToTime(_, q) return time_of_qn(q) end
function R.TimeMap_timeToQN(t) return qn(t) end
function R.TimeMap_QNToTime(q) return time_of_qn(q) end
function R.CountTempoTimeSigMarkers() return 0 end
function R.GetTempoTimeSigMarker() return false end

-- markers and regions
function R.AddProjectMarker2(_, isrgn, pos, rgnend, name, wantidx, color)
  isrgn = isrgn and true or false
  local id = wantidx
  if not id or id < 0 then id = S.next_id[isrgn] end
  S.next_id[isrgn] = math.max(S.next_id[isrgn], id + 1)
  S.markers[#S.markers + 1] = { isrgn = isrgn, pos = pos, rgnend = isrgn and rgnend or pos, name = name, id = id,
                                color = color or 0 }
  table.sort(S.markers, function(a, b) return a.pos < b.pos end)
  return id
end
function R.AddProjectMarker(proj, isrgn, pos, rgnend, name, wantidx)
  return R.AddProjectMarker2(proj, isrgn, pos, rgnend, name, wantidx, 0)
end
function R.DeleteProjectMarker(_, id, isrgn)
  for i, m in ipairs(S.markers) do
    if m.id == id and m.isrgn == (isrgn and true or false) then table.remove(S.markers, i) return true end
  end
  return false
end
function R.CountProjectMarkers()
  local nm, nr = 0, 0
  for _, m in ipairs(S.markers) do if m.isrgn then nr = nr + 1 else nm = nm + 1 end end
  return nm + nr, nm, nr
end
function R.EnumProjectMarkers3(_, i)
  local m = S.markers[i + 1]
  if not m then return 0, false, 0, 0, "", 0, 0 end
  return i + 1, m.isrgn, m.pos, m.rgnend, m.name, m.id, m.color
end
function R.ColorToNative(r, g, b) return r | (g << 8) | (b << 16) end

-- tracks
function R.CountTracks() return #S.tracks end
function R.GetTrack(_, i) return S.tracks[i + 1] end
function R.InsertTrackAtIndex(i, _)
  table.insert(S.tracks, math.min(i, #S.tracks) + 1, { name = "", items = {} })
end
function R.GetSelectedTrack(_, i)
  local n = 0
  for _, tr in ipairs(S.tracks) do if tr.selected then if n == i then return tr end n = n + 1 end end
  return nil
end
function R.GetMediaTrackInfo_Value(track, parm)
  if parm == "IP_TRACKNUMBER" then
    for i, tr in ipairs(S.tracks) do if tr == track then return i end end
    return 0
  end
  return 0
end
function R.GetSetMediaTrackInfo_String(track, parm, val, set)
  if parm == "P_NAME" then
    if set then track.name = val end
    return true, track.name
  end
  return false, ""
end

-- items and takes
function R.CountSelectedMediaItems()
  local n = 0
  for _, it in ipairs(F.all_items()) do if it.selected then n = n + 1 end end
  return n
end
function R.GetSelectedMediaItem(_, i)
  local n = 0
  for _, it in ipairs(F.all_items()) do
    if it.selected then if n == i then return it end n = n + 1 end
  end
  return nil
end
function R.GetActiveTake(item) return item.takes[item.active] end
function R.CountMediaItems() return #F.all_items() end
function R.GetMediaItem(_, i) return F.all_items()[i + 1] end
function R.DeleteTrackMediaItem(track, item)
  for i, it in ipairs(track.items) do if it == item then table.remove(track.items, i) return true end end
  return false
end
function R.GetMediaItem_Track(item) return item.track end
function R.GetMediaItemInfo_Value(item, parm)
  if parm == "D_POSITION" then return item.pos end
  if parm == "D_LENGTH" then return item.len end
  if parm == "B_UISEL" then return item.selected and 1 or 0 end
  return 0
end
function R.SetMediaItemInfo_Value(item, parm, v)
  if parm == "D_POSITION" then item.pos = v elseif parm == "D_LENGTH" then item.len = v
  elseif parm == "B_UISEL" then item.selected = v ~= 0 end
  return true
end
function R.SetMediaItemSelected(item, sel) item.selected = sel end
function R.GetSetMediaItemInfo_String(item, parm, val, set)
  if parm == "GUID" then
    if set then item.guid = val end
    return true, item.guid
  end
  return false, ""
end
function R.ValidatePtr2(_, ptr, what)
  if what == "MediaItem*" then
    for _, it in ipairs(F.all_items()) do if it == ptr then return true end end
  end
  return false
end
function R.GetMediaItemTakeInfo_Value(take, parm)
  if parm == "D_STARTOFFS" then return take.startoffs end
  if parm == "D_PLAYRATE" then return take.playrate end
  return 0
end
function R.GetSetMediaItemTakeInfo_String(take, parm, val, set)
  if parm == "P_NAME" then
    if set then take.name = val end
    return true, take.name
  end
  return false, ""
end
function R.TakeIsMIDI(take) return take.is_midi or (take.source and take.source.type == "MIDI") or false end
function R.GetMediaItemTake_Source(take) return take.source end
function R.GetMediaSourceParent(src) return src.parent end
function R.GetMediaSourceType(src, _) return src.type end
function R.GetMediaSourceFileName(src, _) return src.file or "" end
function R.GetMediaSourceLength(src) return src.length or 0, false end
function R.PCM_Source_GetSectionInfo(src)
  if src.kind == "section" then return true, src.offs, src.len, src.rev end
  return false, 0, src.length or 0, false
end
function R.PCM_Source_CreateFromFile(path)
  if not R.file_exists(path) then return nil end
  return F.file_source(path)
end
function R.AddMediaItemToTrack(track)
  local item = { track = track, pos = 0, len = 0, takes = {}, active = 1, selected = false, guid = guid() }
  track.items[#track.items + 1] = item
  return item
end
function R.AddTakeToMediaItem(item)
  local take = { item = item, startoffs = 0, playrate = 1, notes = {}, ccs = {}, name = "" }
  item.takes[#item.takes + 1] = take
  return take
end
function R.SetMediaItemTake_Source(take, src) take.source = src return true end
function R.CreateNewMIDIItemInProj(track, t0, t1, qn_in)
  if qn_in then t0, t1 = time_of_qn(t0), time_of_qn(t1) end
  local src = { kind = "midi", type = "MIDI", length = t1 - t0 }
  local item = F.add_item(track, t0, t1 - t0, src, 0, 1)
  item.takes[1].is_midi = true
  return item
end

-- MIDI (PPQ from the item start, 960 per quarter note)
function R.MIDI_GetPPQPosFromProjTime(take, t) return (qn(t) - qn(take.item.pos)) * PPQ end
function R.MIDI_GetProjTimeFromPPQPos(take, ppq) return time_of_qn(qn(take.item.pos) + ppq / PPQ) end
function R.MIDI_GetPPQPosFromProjQN(take, q) return (q - qn(take.item.pos)) * PPQ end
function R.MIDI_GetProjQNFromPPQPos(take, ppq) return qn(take.item.pos) + ppq / PPQ end
function R.MIDI_InsertNote(take, sel, muted, s, e, chan, pitch, vel, _)
  take.notes[#take.notes + 1] = { sel = sel, muted = muted, s = s, e = e, chan = chan, pitch = pitch, vel = vel }
  take.sorted = false
  return true
end
function R.MIDI_InsertCC(take, sel, muted, ppq, msg, chan, m2, m3)
  take.ccs[#take.ccs + 1] = { ppq = ppq, msg = msg, chan = chan, m2 = m2, m3 = m3 }
  return true
end
function R.MIDI_Sort(take)
  table.sort(take.notes, function(a, b) if a.s ~= b.s then return a.s < b.s end return a.pitch < b.pitch end)
  take.sorted = true
end
function R.MIDI_CountEvts(take) return #take.notes + #take.ccs, #take.notes, #take.ccs, 0 end
function R.MIDI_GetNote(take, i)
  local n = take.notes[i + 1]
  if not n then return false end
  return true, n.sel, n.muted, n.s, n.e, n.chan, n.pitch, n.vel
end

-- gfx
local gfx = { w = 420, h = 150, x = 0, y = 0 }
function gfx.init(name, w, h)
  S.gfx.open, S.gfx.name, S.gfx.inits = true, name, S.gfx.inits + 1
  gfx.w, gfx.h = w or gfx.w, h or gfx.h
  return 1
end
function gfx.quit() S.gfx.open = false end
function gfx.getchar() if not S.gfx.open then return -1 end return S.gfx.char end
function gfx.set() end
function gfx.rect() end
function gfx.setfont() end
function gfx.measurestr(s) return #tostring(s) * 8, 14 end
function gfx.drawstr(s)
  S.gfx.frame[#S.gfx.frame + 1] = tostring(s)
  S.gfx.strings[#S.gfx.strings + 1] = tostring(s)
end
function gfx.update() S.gfx.last_frame = S.gfx.frame S.gfx.frame = {} end

setmetatable(R, { __index = function(_, k) S.missing[#S.missing + 1] = k return nil end })
F.api = R
F.gfx = gfx
reaper = R
_G.gfx = gfx
return F
