-- Bandmate: shared code of the REAPER actions (stock REAPER, Lua 5.4, no extensions).
--
-- The action scripts load this file with dofile() from their own folder. It holds a pure-Lua JSON codec, the
-- spawn-and-poll plumbing that runs the `bandmate` command in the background (stock ReaScript Lua has no sockets,
-- so the daemon is reached through the command-line client and result files), the map from a take's source
-- seconds to project seconds, and chord spelling. Nothing here raises into REAPER: errors come back as values.

local M = {}

M.VERSION = "0.1.0"
M.EXT = "Bandmate" -- ext-state section, per project (SetProjExtState) and global (SetExtState)

local function script_dir()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then src = src:sub(2) end
  return src:match("^(.*)[/\\]") or "."
end
M.script_dir = script_dir()

-- ----------------------------------------------------------------------------------------------------------
-- JSON (RFC 8259), written for these scripts
-- ----------------------------------------------------------------------------------------------------------
local json = {}
M.json = json

json.null = setmetatable({}, { __tostring = function() return "null" end })
-- Tables marked with json.array() encode as arrays even when empty.
local ARRAY_MT = { __jsontype = "array" }
function json.array(t) return setmetatable(t or {}, ARRAY_MT) end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
                  ["\r"] = "\\r", ["\t"] = "\\t" }

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_array(t)
  local mt = getmetatable(t)
  if mt and mt.__jsontype == "array" then return true end
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  for i = 1, n do if t[i] == nil then return false end end
  return n > 0
end

local function encode_value(v, seen)
  local tv = type(v)
  if v == nil or v == json.null then return "null" end
  if tv == "boolean" then return v and "true" or "false" end
  if tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%.1f", v) end
    return string.format("%.17g", v)
  end
  if tv == "string" then return encode_string(v) end
  if tv == "table" then
    if seen[v] then error("json: cannot encode a table that contains itself") end
    seen[v] = true
    local out = {}
    if is_array(v) then
      for i = 1, #v do out[i] = encode_value(v[i], seen) end
      seen[v] = nil
      return "[" .. table.concat(out, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do
      if type(k) ~= "string" and type(k) ~= "number" then error("json: object keys must be strings") end
      keys[#keys + 1] = tostring(k)
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local val = v[k]
      if val == nil then val = v[tonumber(k)] end
      out[#out + 1] = encode_string(k) .. ":" .. encode_value(val, seen)
    end
    seen[v] = nil
    return "{" .. table.concat(out, ",") .. "}"
  end
  error("json: cannot encode a " .. tv)
end

--- JSON text of a Lua value; raises on values JSON cannot hold (functions, cycles).
function json.encode(v) return encode_value(v, {}) end

local function decode_error(s, i, what)
  local line, col = 1, 1
  for p = 1, math.min(i - 1, #s) do
    if s:byte(p) == 10 then line, col = line + 1, 1 else col = col + 1 end
  end
  error({ json_error = string.format("json: %s at line %d column %d", what, line, col) })
end

local function skip_ws(s, i)
  local _, e = s:find("^[ \t\r\n]*", i)
  return e + 1
end

local decode_value

local function codepoint_to_utf8(cp)
  return utf8.char(cp)
end

local function decode_string(s, i)
  -- s:sub(i, i) == '"'
  local parts, j = {}, i + 1
  while true do
    local a, b = s:find('^[^"\\%c]+', j)
    if a then parts[#parts + 1] = s:sub(a, b); j = b + 1 end
    local c = s:sub(j, j)
    if c == '"' then return table.concat(parts), j + 1 end
    if c == "" then decode_error(s, j, "unterminated string") end
    if c == "\\" then
      local e = s:sub(j + 1, j + 1)
      local simple = ({ ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r",
                        t = "\t" })[e]
      if simple then
        parts[#parts + 1] = simple; j = j + 2
      elseif e == "u" then
        local hex = s:match("^%x%x%x%x", j + 2)
        if not hex then decode_error(s, j, "bad \\u escape") end
        local cp = tonumber(hex, 16); j = j + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo = s:match("^\\u(%x%x%x%x)", j)
          local lo_cp = lo and tonumber(lo, 16)
          if lo_cp and lo_cp >= 0xDC00 and lo_cp <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo_cp - 0xDC00); j = j + 6
          else
            cp = 0xFFFD
          end
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          cp = 0xFFFD
        end
        parts[#parts + 1] = codepoint_to_utf8(cp)
      else
        decode_error(s, j, "bad escape")
      end
    else
      decode_error(s, j, "control character in string")
    end
  end
end

local function decode_number(s, i)
  local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
  if not num or num == "-" then decode_error(s, i, "bad number") end
  local v = nil
  if num:find("^-?%d+$") then v = math.tointeger(tonumber(num)) end
  v = v or tonumber(num)
  if v == nil then decode_error(s, i, "bad number") end
  return v, i + #num
end

function decode_value(s, i, depth)
  if depth > 200 then decode_error(s, i, "nesting too deep") end
  i = skip_ws(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
    i = skip_ws(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
      i = skip_ws(s, i)
      if s:sub(i, i) ~= '"' then decode_error(s, i, "expected a string key") end
      local k
      k, i = decode_string(s, i)
      i = skip_ws(s, i)
      if s:sub(i, i) ~= ":" then decode_error(s, i, "expected ':'") end
      local v
      v, i = decode_value(s, i + 1, depth + 1)
      obj[k] = v
      i = skip_ws(s, i)
      c = s:sub(i, i)
      if c == "}" then return obj, i + 1 end
      if c ~= "," then decode_error(s, i, "expected ',' or '}'") end
      i = i + 1
    end
  elseif c == "[" then
    local arr = json.array({})
    i = skip_ws(s, i + 1)
    if s:sub(i, i) == "]" then return arr, i + 1 end
    local n = 0
    while true do
      local v
      v, i = decode_value(s, i, depth + 1)
      n = n + 1
      arr[n] = v
      i = skip_ws(s, i)
      c = s:sub(i, i)
      if c == "]" then return arr, i + 1 end
      if c ~= "," then decode_error(s, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif c == "-" or c:match("%d") then
    return decode_number(s, i)
  elseif s:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif s:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif s:sub(i, i + 3) == "null" then
    return json.null, i + 4
  end
  decode_error(s, i, c == "" and "unexpected end of text" or ("unexpected '" .. c .. "'"))
end

--- Decode JSON text. Returns value, or nil and an error message (never raises). JSON null is json.null.
function json.decode(s)
  if type(s) ~= "string" then return nil, "json: expected text, got " .. type(s) end
  local ok, v, i = pcall(decode_value, s, 1, 0)
  if not ok then
    if type(v) == "table" and v.json_error then return nil, v.json_error end
    return nil, "json: " .. tostring(v)
  end
  i = skip_ws(s, i)
  if i <= #s then return nil, "json: trailing text at character " .. i end
  return v, nil
end

--- A value that is not JSON null (json.null -> nil).
function M.val(v)
  if v == json.null then return nil end
  return v
end

-- ----------------------------------------------------------------------------------------------------------
-- Files, messages, configuration
-- ----------------------------------------------------------------------------------------------------------
function M.is_windows()
  local os_name = reaper.GetOS and reaper.GetOS() or ""
  return os_name:find("^Win") ~= nil
end

function M.sep() return M.is_windows() and "\\" or "/" end

function M.join(...)
  local parts = { ... }
  local s = M.sep()
  local out = table.remove(parts, 1) or ""
  for _, p in ipairs(parts) do
    if out == "" or out:sub(-1) == "/" or out:sub(-1) == "\\" then out = out .. p else out = out .. s .. p end
  end
  return out
end

function M.read_file(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local data = fh:read("a")
  fh:close()
  return data
end

function M.write_file(path, text)
  local tmp = path .. ".part"
  local fh, err = io.open(tmp, "wb")
  if not fh then return nil, err end
  fh:write(text)
  fh:close()
  -- rename replaces atomically on POSIX, so a reader never sees half a file; Windows needs the old one gone
  local ok, err2 = os.rename(tmp, path)
  if not ok then
    os.remove(path)
    ok, err2 = os.rename(tmp, path)
  end
  if not ok then return nil, err2 end
  return true
end

function M.file_exists(path)
  if reaper.file_exists then return reaper.file_exists(path) end
  local fh = io.open(path, "rb")
  if fh then fh:close() return true end
  return false
end

function M.mkdir(path)
  if reaper.RecursiveCreateDirectory then reaper.RecursiveCreateDirectory(path, 0) end
  return path
end

function M.log(text)
  reaper.ShowConsoleMsg(tostring(text) .. "\n")
end

--- A message box titled "Bandmate" (also echoed to the console, where it can be copied).
function M.msg(text, title)
  M.log("Bandmate: " .. tostring(text))
  reaper.ShowMessageBox(tostring(text), title or "Bandmate", 0)
end

--- Call fn(...) so that no Lua error reaches REAPER: an error shows a message (with traceback in the console).
function M.guard(what, fn, ...)
  local ok, err = xpcall(fn, debug.traceback, ...)
  if not ok then
    M.log(tostring(err))
    reaper.ShowMessageBox("Bandmate: " .. what .. " failed inside the script:\n" .. tostring(err):match("[^\n]*")
      .. "\n\nThe console has the details; please report it.", "Bandmate", 0)
  end
  return ok
end

local config_cache
--- Settings: the installer's bandmate_config.lua, then the producer's bandmate_user.lua over it (both next to the
--- scripts): bandmate = {argv...}, endpoint, pub_endpoint, token, timeout, work_dir, live_input, live_latency.
--- Without them, `bandmate` on the PATH and the running daemon's own endpoints.
function M.config()
  if config_cache then return config_cache end
  local cfg = {}
  for _, name in ipairs({ "bandmate_config.lua", "bandmate_user.lua" }) do
    local path = M.join(M.script_dir, name)
    if M.file_exists(path) then
      local ok, t = pcall(dofile, path)
      if ok and type(t) == "table" then
        for k, v in pairs(t) do cfg[k] = v end
      elseif not ok then
        M.log("Bandmate: ignoring " .. path .. ": " .. tostring(t))
      end
    end
  end
  if type(cfg.bandmate) == "string" then cfg.bandmate = { cfg.bandmate } end
  if type(cfg.bandmate) ~= "table" or #cfg.bandmate == 0 then
    cfg.bandmate = { M.is_windows() and "bandmate.exe" or "bandmate" }
  end
  config_cache = cfg
  return cfg
end

function M.reset_config() config_cache = nil end

--- argv of a `bandmate` client command, with the configured endpoints.
function M.bandmate_argv(args)
  local cfg = M.config()
  local argv = {}
  for _, a in ipairs(cfg.bandmate) do argv[#argv + 1] = a end
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  if cfg.endpoint then argv[#argv + 1] = "--endpoint"; argv[#argv + 1] = cfg.endpoint end
  if cfg.pub_endpoint then argv[#argv + 1] = "--pub-endpoint"; argv[#argv + 1] = cfg.pub_endpoint end
  if cfg.token then argv[#argv + 1] = "--token"; argv[#argv + 1] = cfg.token end
  if cfg.timeout then argv[#argv + 1] = "--timeout"; argv[#argv + 1] = tostring(cfg.timeout) end
  return argv
end

--- A fresh folder for one request's files: <project media folder>/Bandmate/<kind>-<time>-<n> (config work_dir
--- overrides the base).
local job_counter = 0
function M.job_dir(kind)
  local base = M.config().work_dir
  if not base then
    local proj = reaper.GetProjectPath and reaper.GetProjectPath("") or ""
    if proj == "" then proj = os.getenv("TMPDIR") or os.getenv("TEMP") or "/tmp" end
    base = M.join(proj, "Bandmate")
  end
  job_counter = job_counter + 1
  local dir = M.join(base, string.format("%s-%s-%d%03d", kind, os.date("%Y%m%d-%H%M%S"), job_counter,
    math.random(0, 999)))
  M.mkdir(dir)
  return dir
end

-- ----------------------------------------------------------------------------------------------------------
-- Background processes: spawn the client detached, poll for its files in a defer loop
-- ----------------------------------------------------------------------------------------------------------
--- One argument quoted for /bin/sh.
function M.quote_posix(a)
  a = tostring(a)
  if a:match("^[%w%%+,./:=@_-]+$") then return a end
  return "'" .. a:gsub("'", "'\\''") .. "'"
end

--- One argument quoted for a Windows program's argv (CommandLineToArgvW rules).
function M.quote_windows(a)
  a = tostring(a)
  if a ~= "" and not a:find('[%s"]') then return a end
  a = a:gsub('(\\*)"', function(bs) return bs .. bs .. '\\"' end)
  a = a:gsub("(\\+)$", "%1%1")
  return '"' .. a .. '"'
end

--- cmd.exe treats & | < > ( ) ^ % ! specially outside quotes: caret-escape them there (cmd flips its quote state
--- at every double quote, escaped or not).
function M.cmd_escape(line)
  local out, quoted = {}, false
  for ch in line:gmatch(".") do
    if ch == '"' then quoted = not quoted end
    if not quoted and ch:find('[&|<>()^%%!]') then out[#out + 1] = "^" end
    out[#out + 1] = ch
  end
  return table.concat(out)
end

--- The shell line that runs argv in the background, stdout to out, stderr to err, then writes its exit code to rc.
function M.background_command(argv, out, err, rc)
  if M.is_windows() then
    local q = {}
    for i, a in ipairs(argv) do q[i] = M.quote_windows(a) end
    local line = M.cmd_escape(table.concat(q, " ")) .. " >" .. M.quote_windows(out) .. " 2>" .. M.quote_windows(err)
    -- exit status: cmd /c cannot echo %ERRORLEVEL% of a command on the same line, so write ok/fail
    -- "(echo 0)>f", not "echo 0>f": cmd would read "0>" as a redirection of handle 0
    line = "(" .. line .. " && ((echo 0)>" .. M.quote_windows(rc) .. ")) || ((echo 1)>" .. M.quote_windows(rc) .. ")"
    return 'cmd.exe /S /C "' .. line .. '"'
  end
  local q = {}
  for i, a in ipairs(argv) do q[i] = M.quote_posix(a) end
  local inner = table.concat(q, " ") .. " >" .. M.quote_posix(out) .. " 2>" .. M.quote_posix(err)
    .. " </dev/null; echo $? >" .. M.quote_posix(rc .. ".part") .. "; mv " .. M.quote_posix(rc .. ".part") .. " "
    .. M.quote_posix(rc)
  return "/bin/sh -c " .. M.quote_posix(inner) .. " >/dev/null 2>&1 &"
end

--- Start a `bandmate` command in the background. Returns a job {dir, out, err, rc, argv, started} or nil, message.
function M.spawn(args, dir)
  local argv = M.bandmate_argv(args)
  local job = { dir = dir, out = M.join(dir, "stdout.json"), err = M.join(dir, "stderr.txt"),
                rc = M.join(dir, "exit_code.txt"), argv = argv, started = reaper.time_precise() }
  os.remove(job.rc)
  local line = M.background_command(argv, job.out, job.err, job.rc)
  job.command = line
  if M.is_windows() then
    -- ExecProcess with timeout -2 returns at once (no wait, minimized): REAPER keeps running
    local r = reaper.ExecProcess(line, -2)
    if r == nil then return nil, "could not start: " .. line end
  else
    local ok, how, code = os.execute(line)
    if not ok and code ~= 0 then return nil, "could not start the bandmate command (" .. tostring(how) .. " "
      .. tostring(code) .. "): " .. line end
  end
  return job
end

--- What a finished client command's stderr says, as a message for the producer.
function M.explain_failure(code, stderr)
  stderr = (stderr or ""):gsub("%s+$", "")
  local ecode, emsg = stderr:match("bandmate: error ([%w_]+): ([^\n]*)")
  if ecode then return emsg .. " [" .. ecode .. "]", ecode end
  if code == 3 or stderr:find("no reply from the Bandmate daemon") then
    return "The Bandmate daemon is not answering. Start it with `bandmate serve` (or `make run`) and try again.\n\n"
      .. (stderr:match("bandmate: ([^\n]*)") or stderr), "unreachable"
  end
  if code == 127 or (stderr:find("not found") or stderr:find("is not recognized")) and stderr:find("bandmate") then
    return "The `bandmate` command was not found. Run `bandmate install reaper` from Bandmate's Python "
      .. "environment, or set `bandmate` in bandmate_config.lua.\n\n" .. stderr, "no_client"
  end
  local last = stderr:match("([^\n]+)$") or ""
  return "The bandmate command failed (exit " .. tostring(code) .. ")" .. (last ~= "" and (": " .. last) or "."),
    "failed"
end

--- Poll a spawned job once. Returns nil while it runs; else {ok=true, value=decoded stdout JSON, text=stdout} or
--- {ok=false, message=..., code=...}.
function M.poll(job)
  local rc = M.read_file(job.rc)
  if not rc then return nil end
  local code = tonumber(rc:match("%-?%d+")) or -1
  local out = M.read_file(job.out) or ""
  local err = M.read_file(job.err) or ""
  if code ~= 0 then
    local message, ecode = M.explain_failure(code, err)
    return { ok = false, message = message, code = ecode, stderr = err }
  end
  local value, jerr = json.decode(out)
  if value == nil then
    return { ok = false, message = "Bandmate's answer could not be read (" .. tostring(jerr) .. ").",
             code = "bad_output", stderr = err }
  end
  return { ok = true, value = value, text = out, stderr = err }
end

--- Run a client command in the background and call on_done(result) from a defer loop once it ends
--- (result as from M.poll, or {ok=false, code="timeout"} after timeout_s). Returns the job or nil, message.
function M.run_async(args, dir, on_done, timeout_s)
  local job, err = M.spawn(args, dir)
  if not job then
    on_done({ ok = false, message = err, code = "spawn" })
    return nil, err
  end
  timeout_s = timeout_s or 600
  local function tick()
    local ok = M.guard("waiting for Bandmate", function()
      local res = M.poll(job)
      if res == nil and reaper.time_precise() - job.started > timeout_s then
        res = { ok = false, code = "timeout", message = string.format(
          "Bandmate did not answer within %d s. The request may still be running in the daemon "
          .. "(`bandmate jobs`).", timeout_s) }
      end
      if res == nil then
        reaper.defer(tick)
      else
        on_done(res, job)
      end
    end)
    if not ok then return end
  end
  reaper.defer(tick)
  return job
end

-- ----------------------------------------------------------------------------------------------------------
-- Takes and time: the active take's source file and the map from its seconds to project seconds
-- ----------------------------------------------------------------------------------------------------------
--- Where the selected item's audio comes from. Returns info or nil, message:
---   file, take, item, track, pos, len (project seconds), startoffs (source seconds), playrate,
---   reversed, range_start, range_end (file seconds of the part the item plays), is_midi.
function M.item_source_info(item)
  if not item then return nil, "Select a media item first." end
  local take = reaper.GetActiveTake(item)
  if not take then return nil, "The selected item has no active take." end
  local src = reaper.GetMediaItemTake_Source(take)
  if not src then return nil, "The selected take has no source." end
  local info = { item = item, take = take, track = reaper.GetMediaItem_Track(item),
                 pos = reaper.GetMediaItemInfo_Value(item, "D_POSITION"),
                 len = reaper.GetMediaItemInfo_Value(item, "D_LENGTH"),
                 startoffs = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS"),
                 playrate = reaper.GetMediaItemTakeInfo_Value(take, "D_PLAYRATE"),
                 is_midi = reaper.TakeIsMIDI and reaper.TakeIsMIDI(take) or false,
                 section_offset = 0.0, reversed = false }
  if not info.playrate or info.playrate <= 0 then info.playrate = 1.0 end
  -- A section (trimmed or reversed copy) wraps its parent: offsets add up and reversal flips the timeline.
  local section_len
  local s = src
  for _ = 1, 8 do
    if reaper.PCM_Source_GetSectionInfo then
      local ok, offs, slen, rev = reaper.PCM_Source_GetSectionInfo(s)
      local stype = reaper.GetMediaSourceType and reaper.GetMediaSourceType(s, "") or ""
      if ok and (stype == "SECTION" or rev) then
        info.section_offset = info.section_offset + (offs or 0)
        section_len = section_len or slen
        if rev then info.reversed = not info.reversed end
      end
    end
    local parent = reaper.GetMediaSourceParent and reaper.GetMediaSourceParent(s)
    if not parent then break end
    s = parent
  end
  local file = reaper.GetMediaSourceFileName(s, "")
  if type(file) ~= "string" or file == "" then
    if info.is_midi then return nil, "The selected MIDI item is stored in the project: it has no file behind it." end
    return nil, "The selected take has no file to analyse."
  end
  info.file = file
  local src_len, len_is_qn = reaper.GetMediaSourceLength(s)
  if len_is_qn then src_len = nil end -- a MIDI file's length in beats: no limit in seconds from it
  info.source_len = src_len
  local played = info.len * info.playrate -- source seconds the item plays
  if info.reversed then
    local L = section_len or src_len
    -- item source time u (in the reversed timeline) is file time offset + L - u
    info.range_end = info.section_offset + L - info.startoffs
    info.range_start = math.max(info.section_offset, info.range_end - played)
  else
    info.range_start = info.section_offset + info.startoffs
    info.range_end = info.range_start + played
    local limit = (section_len and (info.section_offset + section_len)) or src_len
    if limit and limit > 0 and info.range_end > limit then info.range_end = limit end -- looped items: first pass
  end
  if info.range_start < 0 then info.range_start = 0 end
  return info
end

-- A standard MIDI file of a take's notes, for in-project MIDI items (no file behind them).
local function vlq(n)
  local bytes = { string.char(n & 0x7F) }
  n = n >> 7
  while n > 0 do
    table.insert(bytes, 1, string.char((n & 0x7F) | 0x80))
    n = n >> 7
  end
  return table.concat(bytes)
end

--- Write the unmuted notes of the item's active MIDI take as a type-0 MIDI file (960 ticks a quarter note, the
--- project tempo and meter at the item start, time 0 = the item start). Returns an item info as
--- M.item_source_info does (playrate 1: the notes are already in project time), or nil, message.
function M.export_take_midi(item, path)
  local take = reaper.GetActiveTake(item)
  if not take or not reaper.TakeIsMIDI(take) then return nil, "The selected item is not a MIDI item." end
  local pos = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local len = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
  local num, den, bpm = reaper.TimeMap_GetTimeSigAtTime(0, pos)
  local qn0 = reaper.TimeMap2_timeToQN(0, pos)
  local qn1 = reaper.TimeMap2_timeToQN(0, pos + len)
  local max_tick = math.floor((qn1 - qn0) * 960 + 0.5)
  local events = {}
  local _, n_notes = reaper.MIDI_CountEvts(take)
  for i = 0, (n_notes or 0) - 1 do
    local ok, _, muted, s, e, chan, pitch, vel = reaper.MIDI_GetNote(take, i)
    if ok and not muted then
      local a = math.floor((reaper.MIDI_GetProjQNFromPPQPos(take, s) - qn0) * 960 + 0.5)
      local b = math.floor((reaper.MIDI_GetProjQNFromPPQPos(take, e) - qn0) * 960 + 0.5)
      a, b = math.max(0, a), math.min(max_tick, b)
      if b > a then
        events[#events + 1] = { a, 1, string.char(0x90 | (chan & 15), pitch & 127, math.max(1, vel & 127)) }
        events[#events + 1] = { b, 0, string.char(0x80 | (chan & 15), pitch & 127, 0) }
      end
    end
  end
  if #events == 0 then return nil, "The selected MIDI item has no notes to analyse." end
  table.sort(events, function(x, y) if x[1] ~= y[1] then return x[1] < y[1] end return x[2] < y[2] end)
  local mpqn = math.floor(60000000 / bpm + 0.5)
  local den_log = math.floor(math.log(den, 2) + 0.5)
  local track = { "\0\255\81\3", string.char((mpqn >> 16) & 255, (mpqn >> 8) & 255, mpqn & 255),
                  "\0\255\88\4", string.char(math.floor(num), den_log, 24, 8) }
  local last = 0
  for _, ev in ipairs(events) do
    track[#track + 1] = vlq(ev[1] - last) .. ev[3]
    last = ev[1]
  end
  track[#track + 1] = "\0\255\47\0"
  local body = table.concat(track)
  local data = "MThd" .. string.pack(">I4I2I2I2", 6, 0, 1, 960) .. "MTrk" .. string.pack(">I4", #body) .. body
  local fh, err = io.open(path, "wb")
  if not fh then return nil, "Cannot write " .. path .. ": " .. tostring(err) end
  fh:write(data)
  fh:close()
  return { item = item, take = take, track = reaper.GetMediaItem_Track(item), pos = pos, len = len, startoffs = 0,
           playrate = 1.0, is_midi = true, reversed = false, section_offset = 0, file = path, exported = true,
           range_start = 0.0, range_end = len, tempo = bpm, num = num, den = den }
end

--- Project seconds of a file time (seconds from the start of the source file).
function M.file_to_project(info, file_t)
  local u
  if info.reversed then u = info.range_end - file_t else u = file_t - info.range_start end
  return info.pos + u / info.playrate
end

--- Project seconds of an analysis time (seconds from the start of the analysed range).
function M.analysis_to_project(info, t)
  return M.file_to_project(info, info.range_start + t)
end

-- ----------------------------------------------------------------------------------------------------------
-- Chords
-- ----------------------------------------------------------------------------------------------------------
-- Harte quality -> intervals above the root and the chord-symbol suffix (as models/theory/harmony.py).
M.QUALITIES = {
  maj = { { 0, 4, 7 }, "" }, min = { { 0, 3, 7 }, "m" }, dim = { { 0, 3, 6 }, "dim" }, aug = { { 0, 4, 8 }, "aug" },
  sus2 = { { 0, 2, 7 }, "sus2" }, sus4 = { { 0, 5, 7 }, "sus4" },
  ["7"] = { { 0, 4, 7, 10 }, "7" }, maj7 = { { 0, 4, 7, 11 }, "maj7" }, min7 = { { 0, 3, 7, 10 }, "m7" },
  minmaj7 = { { 0, 3, 7, 11 }, "m(maj7)" }, dim7 = { { 0, 3, 6, 9 }, "dim7" }, hdim7 = { { 0, 3, 6, 10 }, "m7b5" },
  maj6 = { { 0, 4, 7, 9 }, "6" }, min6 = { { 0, 3, 7, 9 }, "m6" },
  ["9"] = { { 0, 4, 7, 10, 14 }, "9" }, maj9 = { { 0, 4, 7, 11, 14 }, "maj9" }, min9 = { { 0, 3, 7, 10, 14 }, "m9" },
  ["sus4(b7)"] = { { 0, 5, 7, 10 }, "7sus4" }, ["maj(9)"] = { { 0, 4, 7, 14 }, "add9" },
  ["7(b9)"] = { { 0, 4, 7, 10, 13 }, "7b9" }, ["7(#9)"] = { { 0, 4, 7, 10, 15 }, "7#9" },
}
local LETTER_PC = { C = 0, D = 2, E = 4, F = 5, G = 7, A = 9, B = 11 }
local DEGREE = { ["1"] = 0, ["2"] = 2, ["3"] = 4, ["4"] = 5, ["5"] = 7, ["6"] = 9, ["7"] = 11, ["9"] = 2,
                 ["11"] = 5, ["13"] = 9 }

function M.pitch_class(name)
  if type(name) ~= "string" then return nil end
  local letter, acc = name:match("^([A-G])([b#]*)$")
  if not letter then return nil end
  local pc = LETTER_PC[letter]
  for ch in acc:gmatch(".") do pc = pc + (ch == "#" and 1 or -1) end
  return pc % 12
end

--- Root name, quality, bass name, root pc, bass pc of a Harte label ('A:min7/b3'); nil for 'N', 'X' or junk.
function M.parse_harte(label)
  if type(label) ~= "string" or label == "N" or label == "X" or label == "" then return nil end
  local root, rest = label:match("^([A-G][b#]*)(.*)$")
  if not root then return nil end
  local quality, bass = rest:match("^:([^/]*)/?(.*)$")
  if not quality then
    bass = rest:match("^/(.*)$") or ""
    if rest ~= "" and bass == "" then return nil end
    quality = "maj"
  end
  if quality == "" then quality = "maj" end
  if not M.QUALITIES[quality] then return nil end
  local rpc = M.pitch_class(root)
  local bpc = rpc
  if bass and bass ~= "" then
    local acc, deg = bass:match("^([b#]*)(%d+)$")
    if not deg or not DEGREE[deg] then return nil end
    local semis = DEGREE[deg]
    for ch in acc:gmatch(".") do semis = semis + (ch == "#" and 1 or -1) end
    bpc = (rpc + semis) % 12
  end
  return { root = root, quality = quality, root_pc = rpc, bass_pc = bpc }
end

local SHARP_NAMES = { "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B" }
local FLAT_NAMES = { "C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B" }

--- Chord symbol of an analysis chord segment: 'Am7', 'C/E', 'F#dim'. with_bass=false drops the slash bass.
function M.chord_symbol(chord, with_bass)
  local label = type(chord) == "table" and chord.label or chord
  local p = M.parse_harte(label)
  if not p then return label == "N" and "N.C." or tostring(label) end
  local root = (type(chord) == "table" and type(chord.root) == "string" and chord.root) or p.root
  local sym = root .. M.QUALITIES[p.quality][2]
  if with_bass ~= false and p.bass_pc ~= p.root_pc then
    local bass = type(chord) == "table" and type(chord.bass) == "string" and chord.bass
    if not bass or M.pitch_class(bass) ~= p.bass_pc then
      bass = (root:find("b") and FLAT_NAMES or SHARP_NAMES)[p.bass_pc + 1]
    end
    sym = sym .. "/" .. bass
  end
  return sym
end

--- Marker name of a chord: 'Am7 (vi7)'.
function M.chord_marker_name(chord)
  local sym = M.chord_symbol(chord)
  local rn = M.val(chord.roman_numeral)
  if rn and rn ~= "" then return sym .. " (" .. rn .. ")" end
  return sym
end

--- MIDI pitches of a chord: the bass in octave 2 (36..47), the chord tones from the root in octave 3 (48..).
function M.chord_pitches(label)
  local p = M.parse_harte(label)
  if not p then return {} end
  local pitches = { 36 + p.bass_pc }
  for _, iv in ipairs(M.QUALITIES[p.quality][1]) do pitches[#pitches + 1] = 48 + p.root_pc + iv end
  return pitches
end

--- Section region name: 'Chorus A'.
function M.section_name(section)
  local label = tostring(M.val(section.label) or "section")
  label = label:sub(1, 1):upper() .. label:sub(2)
  local letter = M.val(section.letter)
  if letter and letter ~= "" then return label .. " " .. letter end
  return label
end

--- Chords of a song description per bar, for a generate request: 'C | Am | F G | G'. One or two chords a bar
--- (the chord at the downbeat and at the middle of the bar).
function M.chords_per_bar(song)
  local chords = {}
  for _, c in ipairs(song.chords or {}) do
    if M.parse_harte(c.label) then chords[#chords + 1] = c end
  end
  if #chords == 0 then return nil end
  local function at(t)
    for _, c in ipairs(chords) do if t >= c.start - 1e-6 and t < c["end"] then return c end end
    return nil
  end
  local downs = {}
  for _, d in ipairs(song.downbeats or {}) do downs[#downs + 1] = d end
  if #downs < 2 then
    local names = {}
    for _, c in ipairs(chords) do
      local s = M.chord_symbol(c, false)
      if names[#names] ~= s then names[#names + 1] = s end
    end
    return table.concat(names, " | ")
  end
  local bar_len = downs[#downs] - downs[#downs - 1]
  local bars, last = {}, nil
  for i, d in ipairs(downs) do
    local e = downs[i + 1] or (d + bar_len)
    local a, b = at(d + 0.05), at((d + e) / 2)
    a = a or b or last
    b = b or a
    if a then
      local sa, sb = M.chord_symbol(a, false), M.chord_symbol(b, false)
      bars[#bars + 1] = (sa == sb) and sa or (sa .. " " .. sb)
      last = b
    end
  end
  return table.concat(bars, " | ")
end

-- ----------------------------------------------------------------------------------------------------------
-- Project helpers
-- ----------------------------------------------------------------------------------------------------------
function M.set_state(key, value)
  reaper.SetProjExtState(0, M.EXT, key, value == nil and "" or tostring(value))
end

function M.get_state(key)
  local ok, v = reaper.GetProjExtState(0, M.EXT, key)
  if ok and ok ~= 0 and v ~= "" then return v end
  return nil
end

--- A new track after index `after` (0-based; -1 = at the top), named. Returns track, index.
function M.new_track(after, name)
  local idx = math.max(0, math.min((after or reaper.CountTracks(0) - 1) + 1, reaper.CountTracks(0)))
  reaper.InsertTrackAtIndex(idx, true)
  local track = reaper.GetTrack(0, idx)
  reaper.GetSetMediaTrackInfo_String(track, "P_NAME", name, true)
  return track, idx
end

function M.track_index(track)
  if not track then return reaper.CountTracks(0) - 1 end
  return math.floor(reaper.GetMediaTrackInfo_Value(track, "IP_TRACKNUMBER")) - 1
end

function M.item_guid(item)
  local _, guid = reaper.GetSetMediaItemInfo_String(item, "GUID", "", false)
  return guid or ""
end

return M
