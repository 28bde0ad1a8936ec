-- M-Bus meters as BACnet objects: a Free Client script (shipped with bacrouter).
-- Tags (Lua table fields):
--   bus:    update_interval=5000 (ms between reads of all meters), force_reset=true (SND_NKE before
--           each read by primary address; some meters need it), offline_interval=30000 (ms between
--           tries of a meter that is offline), timeout=... (ms; default 330 bit times + 50 ms)
--   device: addr=1 (primary address) or addr="f57072162440f102" (secondary address, 16 hex digits)
--   point:  id=1 (the record id, as `bacrouter mbus read` shows it), scale=10 (the value is multiplied)
--           An analog point with neither a unit nor a scale takes its BACnet units from the record's
--           VIF, its value converted to them (kWh, m3, kW, m3/h, degC, ...: see docs/mbus.md).
-- A meter that sends several telegrams ("more records follow") is read to the end; record ids count
-- on across telegrams. Three failed reads in a row take a meter offline; it is tried again every
-- offline_interval. Record decoding uses bacrouter's helper swg.mbus_records.

local ACK = 0xE5

local function tag_table(text)
  local chunk = load("return {" .. (text or "") .. "}", "tag", "t", {})
  if not chunk then return {} end
  local ok, value = pcall(chunk)
  return ok and type(value) == "table" and value or {}
end

local function checksum(s)
  local sum = 0
  for i = 1, #s do sum = (sum + s:byte(i)) & 0xFF end
  return sum
end

local function short_frame(c, a)
  return string.char(0x10, c, a, (c + a) & 0xFF, 0x16)
end

local function long_frame(c, a, ci, data)
  local body = string.char(c, a, ci) .. data
  return string.char(0x68, #body, #body, 0x68) .. body .. string.char(checksum(body), 0x16)
end

local function select_frame(secondary)
  -- 8 ID digits as BCD, least significant octet first; manufacturer, version, medium as written
  local id = secondary:sub(1, 8)
  local data = ""
  for i = 7, 1, -2 do data = data .. string.char(tonumber(id:sub(i, i + 1), 16)) end
  for i = 9, 15, 2 do data = data .. string.char(tonumber(secondary:sub(i, i + 1), 16)) end
  return long_frame(0x73, 0xFD, 0x52, data)
end

local bus = {}

-- one request and its answer; a converter that echoes what we send is recognised and its echo dropped
local function exchange(packet, maxlen, cb)
  swg.sndrcv485(packet, 10, bus.timeout, maxlen + #packet, function(ctx, result, data)
    if result > 0 and data:sub(1, #packet) == packet then
      data = data:sub(#packet + 1)
      if #data == 0 then  -- only the echo so far: the answer comes after it
        return swg.sndrcv485("", 0, bus.timeout, maxlen, cb)
      end
      result = #data
    end
    cb(ctx, result, data)
  end)
end

local meters = {}
local order = {}   -- the meters still to read in this round
local current      -- the meter being read

local next_meter   -- forward

local function finish(ctx, ok)
  local m = current
  current = nil
  local now = swg.now()
  if ok then
    m.failures = 0
    m.next_try = 0
    swg.onoff(m.index, true)
  else
    m.failures = m.failures + 1
    if m.failures >= 3 then
      if m.failures == 3 then swg.log("meter", m.index, "is offline") end
      swg.onoff(m.index, false)
      for p in pairs(m.points) do
        local value = swg.pointvalue(m.index, p)
        swg.updatepoint(m.index, p, value or 0, swg.reliability_communication_failure)
      end
      m.next_try = now + bus.offline_interval
    end
  end
  swg.timer("step", 0, next_meter)
end

local function publish(m, records)
  for p, point in pairs(m.points) do
    local record = records[point.id]
    if record and point.auto_unit and record.bacnet_value then
      -- no unit and no scale of its own: the record's VIF gives both (kWh, m3, kW, m3/h, degC, ...)
      if point.unit ~= record.bacnet_unit then
        swg.setunit(m.index, p, record.bacnet_unit)
        point.unit = record.bacnet_unit
      end
      swg.updatepoint(m.index, p, record.bacnet_value, swg.reliability_no_fault)
    elseif record and record.value then
      swg.updatepoint(m.index, p, record.value * point.scale, swg.reliability_no_fault)
    else
      local value = swg.pointvalue(m.index, p)
      swg.updatepoint(m.index, p, value or 0, swg.reliability_unreliable_other)
    end
  end
end

-- REQ_UD2 with the meter's frame count bit: it toggles after every answer, so a meter that honours it
-- never repeats an old answer to a new request, across rounds as within a multi-telegram read
-- (EN 13757-2; an unanswered request keeps its FCB, so the meter repeats what was lost)
local function request(ctx, m, records, offset, telegrams)
  local c = m.fcb and 0x7B or 0x5B
  exchange(short_frame(c, m.target), 300, function(ctx2, result, data)
    if result <= 0 then return finish(ctx2, false) end
    m.fcb = not m.fcb
    local decoded, why = swg.mbus_records(data, offset)
    if not decoded then
      swg.log("meter", m.index, why)
      return finish(ctx2, false)
    end
    for id, record in pairs(decoded.records) do records[id] = record end
    if decoded.more and telegrams < 16 then
      return request(ctx2, m, records, offset + decoded.count, telegrams + 1)
    end
    publish(m, records)
    finish(ctx2, true)
  end)
end

local function read_meter(ctx, m)
  current = m
  if m.secondary then
    exchange(select_frame(m.secondary), 16, function(ctx2, result, data)
      if result ~= 1 or data:byte(1) ~= ACK then return finish(ctx2, false) end
      request(ctx2, m, {}, 0, 1)
    end)
  elseif bus.force_reset then
    exchange(short_frame(0x40, m.target), 16, function(ctx2, result, data)
      if result ~= 1 or data:byte(1) ~= ACK then return finish(ctx2, false) end
      m.fcb = true  -- SND_NKE resets the meter's FCB: the next REQ_UD2 starts with FCB 1
      request(ctx2, m, {}, 0, 1)
    end)
  else
    request(ctx, m, {}, 0, 1)
  end
end

next_meter = function(ctx)
  local now = swg.now()
  while #order > 0 do
    local m = table.remove(order, 1)
    if m.next_try <= now then return read_meter(ctx, m) end
  end
  -- a round is over: the next one after update_interval
  for _, m in ipairs(meters) do table.insert(order, m) end
  swg.timer("step", bus.update_interval, next_meter)
end

local function init(ctx)
  local t = tag_table(ctx.tag)
  bus.update_interval = t.update_interval or 5000
  bus.offline_interval = t.offline_interval or 30000
  bus.force_reset = t.force_reset and true or false
  bus.timeout = t.timeout or math.floor(330 * 1000 / (ctx.baudrate or 2400) + 50)
  for index, device in ipairs(ctx.devices) do
    local d = tag_table(device.tag)
    local m = { index = index, failures = 0, next_try = 0, points = {}, fcb = true }
    if type(d.addr) == "string" then
      m.secondary = d.addr:upper()
      m.target = 0xFD
    else
      m.target = d.addr or 0
    end
    for p, point in ipairs(device.points) do
      local pt = tag_table(point.tag)
      if pt.id then
        -- an analog point without a unit or scale of its own takes both from its record's VIF
        local auto = point.obj_type == "a" and not point.unit and pt.scale == nil
        m.points[p] = { id = pt.id, scale = pt.scale or 1, auto_unit = auto }
      end
    end
    meters[index] = m
    table.insert(order, m)
  end
  swg.timer("step", 0, next_meter)
end

return swg.interface_rs485, init
