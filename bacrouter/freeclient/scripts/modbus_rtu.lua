-- A Modbus RTU master as a Free Client script: an example of the host API, and a template for
-- protocols of your own. Tags (Lua table fields):
--   bus:    update_interval=1000 (ms between polls of a device), timeout=500 (ms), before_idle=5 (ms)
--   device: unit=1 (the station)
--   point:  reg=100 (0-based register), fc=3 (3 holding, 4 input, 1 coil, 2 discrete),
--           scale=0.1, offset=0, signed=true
-- BACnet writes to value and output objects are written with function 6 (registers) or 5 (coils).

local function tag_table(text)
  local chunk = load("return {" .. (text or "") .. "}", "tag", "t", {})
  if not chunk then return {} end
  local ok, value = pcall(chunk)
  return ok and type(value) == "table" and value or {}
end

local function crc16(data)
  local crc = 0xFFFF
  for i = 1, #data do
    crc = crc ~ data:byte(i)
    for _ = 1, 8 do
      if crc & 1 ~= 0 then crc = (crc >> 1) ~ 0xA001 else crc = crc >> 1 end
    end
  end
  return crc
end

local function frame(unit, pdu)
  local body = string.char(unit) .. pdu
  local crc = crc16(body)
  return body .. string.char(crc & 0xFF, crc >> 8)
end

local bus = {}       -- settings from the bus tag
local devices = {}   -- per device: unit, reads, failures, next read
local queue = {}     -- the requests still to make in this round

local function plan_reads(dev)
  -- one read per run of consecutive addresses of the same function (at most 100 registers)
  local by_fc = {}
  for index, p in ipairs(dev.points) do
    by_fc[p.fc] = by_fc[p.fc] or {}
    table.insert(by_fc[p.fc], index)
  end
  local reads = {}
  for fc, indexes in pairs(by_fc) do
    table.sort(indexes, function(a, b) return dev.points[a].reg < dev.points[b].reg end)
    local current
    for _, index in ipairs(indexes) do
      local reg = dev.points[index].reg
      if current and reg == current.last + 1 and reg - current.first < 100 then
        current.last = reg
        table.insert(current.points, index)
      elseif not (current and reg == current.last) then
        current = { fc = fc, first = reg, last = reg, points = { index } }
        table.insert(reads, current)
      else
        table.insert(current.points, index)
      end
    end
  end
  return reads
end

local function fail(ctx, d)
  local dev = devices[d]
  dev.failures = dev.failures + 1
  if dev.failures == 3 then
    swg.onoff(d, false)
  end
end

local next_step -- forward

local function answered(ctx, result, data, d, request)
  local dev = devices[d]
  if result < 5 or crc16(data) ~= 0 or data:byte(1) ~= dev.unit then
    fail(ctx, d)
    return
  end
  if data:byte(2) ~= request.fc then
    -- an exception: the points of this request are unreliable, the device is there
    for _, index in ipairs(request.points or {}) do
      local value = swg.pointvalue(d, index)
      swg.updatepoint(d, index, value or 0, swg.reliability_unreliable_other)
    end
    dev.failures = 0
    return
  end
  if not request.write then
    -- the byte count must be what was asked for, and the frame must hold it: anything else is damage
    local count = request.last - request.first + 1
    local expect = request.fc <= 2 and (count + 7) // 8 or 2 * count
    if data:byte(3) ~= expect or #data ~= 5 + expect then
      fail(ctx, d)
      return
    end
  end
  dev.failures = 0
  if request.write then return end
  for _, index in ipairs(request.points) do
    local p = dev.points[index]
    local offset = p.reg - request.first
    local raw
    if request.fc <= 2 then
      local byte = data:byte(4 + offset // 8)
      raw = (byte >> (offset % 8)) & 1
    else
      raw = (data:byte(4 + 2 * offset) << 8) | data:byte(5 + 2 * offset)
      if p.signed and raw >= 0x8000 then raw = raw - 0x10000 end
    end
    local value = raw * p.scale + p.offset
    if p.obj_type == "b" then value = raw ~= 0 end
    if p.obj_type == "m" then value = raw + 1 end
    swg.updatepoint(d, index, value, swg.reliability_no_fault)
  end
  swg.onoff(d, true)
end

local function write_request(d, index, value)
  local dev, p = devices[d], devices[d].points[index]
  if value == nil then return nil end  -- relinquished: the polled value takes over
  if p.obj_type == "b" then value = value and 1 or 0 end  -- a binary point's value is true or false
  if p.fc == 1 then
    return { write = true, fc = 5, pdu = string.pack(">BI2I2", 5, p.reg, value ~= 0 and 0xFF00 or 0) }
  end
  local raw
  if p.obj_type == "m" then raw = math.floor(value) - 1
  elseif p.obj_type == "b" then raw = value
  else raw = math.floor((value - p.offset) / p.scale + 0.5) end
  return { write = true, fc = 6, pdu = string.pack(">BI2I2", 6, p.reg, raw & 0xFFFF) }
end

next_step = function(ctx)
  -- writes first, then the next read of this round
  local d, index, value = swg.firstwrite()
  local request
  if d then
    request = write_request(d, index, value)
  end
  if not request then
    if #queue == 0 then
      for number, dev in ipairs(devices) do
        for _, read in ipairs(dev.reads) do table.insert(queue, { d = number, read = read }) end
      end
      swg.timer(1, bus.update_interval, next_step)  -- the next round
      return
    end
    local item = table.remove(queue, 1)
    d = item.d
    request = item.read
    request.pdu = string.pack(">BI2I2", request.fc, request.first, request.last - request.first + 1)
  end
  swg.sndrcv485(frame(devices[d].unit, request.pdu), bus.before_idle, bus.timeout, 256,
    function(ctx2, result, data)
      answered(ctx2, result, data, d, request)
      swg.timer(1, 0, next_step)
    end)
end

local function init(ctx)
  local settings = tag_table(ctx.tag)
  bus.update_interval = settings.update_interval or 1000
  bus.timeout = settings.timeout or 500
  bus.before_idle = settings.before_idle or 5
  for d, device in ipairs(ctx.devices) do
    local dtag = tag_table(device.tag)
    local dev = { unit = dtag.unit or 1, failures = 0, points = {} }
    for index, point in ipairs(device.points) do
      local t = tag_table(point.tag)
      dev.points[index] = { reg = t.reg or 0, fc = t.fc or (point.obj_type == "b" and 1 or 3),
                            scale = t.scale or 1, offset = t.offset or 0, signed = t.signed or false,
                            obj_type = point.obj_type }
    end
    dev.reads = plan_reads(dev)
    devices[d] = dev
  end
  swg.timer(1, 0, next_step)
end

return swg.interface_rs485, init
