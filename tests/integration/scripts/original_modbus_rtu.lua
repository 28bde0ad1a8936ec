-- A Modbus RTU master written the way scripts for the original product's Free Client are written
-- (not bacrouter's shipped modbus_rtu.lua): it must run unchanged on bacrouter.
--   bus tag:    update_interval=1000, timeout=500
--   device tag: slave=1, readreqs={{3,0,10},{1,0,8}}     -- {func_code, start address, count}
--   point tag:  func_code=3, addr=4, datatype="f32"      -- u16, s16, u32, f32 on registers; bits on 1/2
-- Binary points are true/false; outputs are written as `value and 1 or 0`. A writable object on an
-- input address (function 2 or 4) is a configuration mistake: the script refuses it at start.

local cfg = {}
local devs = {}
local round = {}

local function parse_tag(s)
  local f = load("return {" .. (s or "") .. "}")
  if f == nil then return {} end
  local ok, t = pcall(f)
  if ok and type(t) == "table" then return t end
  return {}
end

local function crc16(s)
  local crc = 0xFFFF
  for i = 1, #s do
    crc = crc ~ s:byte(i)
    for _ = 1, 8 do
      if (crc & 1) == 1 then crc = (crc >> 1) ~ 0xA001 else crc = crc >> 1 end
    end
  end
  return crc
end

local function rtu(slave, pdu)
  local s = string.char(slave) .. pdu
  local crc = crc16(s)
  return s .. string.char(crc & 0xFF, (crc >> 8) & 0xFF)
end

local function regs_of(p)
  if p.datatype == "f32" or p.datatype == "u32" then return 2 end
  return 1
end

local function decode(p, data, first)
  -- data: the answer's payload (after slave, function and byte count)
  if p.func_code == 1 or p.func_code == 2 then
    local bit = p.addr - first
    local byte = data:byte(bit // 8 + 1)
    return ((byte >> (bit % 8)) & 1) == 1
  end
  local at = (p.addr - first) * 2 + 1
  if p.datatype == "f32" then return (string.unpack(">f", data, at)) end
  if p.datatype == "u32" then return (string.unpack(">I4", data, at)) end
  if p.datatype == "s16" then return (string.unpack(">i2", data, at)) end
  return (string.unpack(">I2", data, at))
end

local function fail(d)
  local dev = devs[d]
  dev.errors = dev.errors + 1
  if dev.errors >= 3 and swg.devicestatus(d) then
    swg.onoff(d, false)
  end
end

local step -- forward

local function write_pdu(p, value)
  if p.func_code == 1 then
    return string.pack(">BI2I2", 5, p.addr, (value and 1 or 0) == 1 and 0xFF00 or 0x0000)
  end
  if p.obj_type == "b" then
    return string.pack(">BI2I2", 6, p.addr, value and 1 or 0)
  end
  if p.datatype == "f32" then
    return string.pack(">BI2I2Bf", 16, p.addr, 2, 4, value)
  end
  if p.datatype == "u32" then
    return string.pack(">BI2I2BI4", 16, p.addr, 2, 4, math.floor(value))
  end
  return string.pack(">BI2I2", 6, p.addr, math.floor(value) & 0xFFFF)
end

local function on_write(ctx, result, data, d, pnt, value)
  if result > 0 and data:byte(2) < 0x80 then
    swg.updatepoint(d, pnt, value, swg.reliability_no_fault)  -- the output shows what was written
  elseif result == swg.rs485error_noreply then
    fail(d)
  end
  swg.timer("step", 0, step)
end

local function on_read(ctx, result, data, d, req)
  local dev = devs[d]
  if result == swg.rs485error_noreply or result == swg.rs485error_busmess then
    fail(d)
  elseif result < 5 or crc16(data) ~= 0 or data:byte(1) ~= dev.slave then
    fail(d)
  elseif data:byte(2) ~= req[1] then
    dev.errors = 0
    for j, p in pairs(dev.points) do
      if p.func_code == req[1] then
        swg.updatepoint(d, j, swg.pointvalue(d, j), swg.reliability_unreliable_other)
      end
    end
  else
    dev.errors = 0
    local payload = data:sub(4, 3 + data:byte(3))
    for j, p in pairs(dev.points) do
      if p.func_code == req[1] and p.addr >= req[2] and p.addr + regs_of(p) <= req[2] + req[3] then
        local commanded = swg.getwrite(d, j)
        local value = decode(p, payload, req[2])
        if commanded ~= nil and commanded ~= value then
          swg.log("device", d, "point", j, "reads", value, "but is commanded", commanded)
        end
        swg.updatepoint(d, j, value, swg.reliability_no_fault)
      end
    end
    if not swg.devicestatus(d) then swg.onoff(d, true) end
  end
  swg.timer("step", 0, step)
end

step = function(ctx)
  local d, pnt, value = swg.firstwrite()
  if d ~= nil then
    local p = devs[d].points[pnt]
    if value ~= nil and p ~= nil then
      swg.sndrcv485(rtu(devs[d].slave, write_pdu(p, value)), 5, cfg.timeout, 256,
        function(c, result, data) on_write(c, result, data, d, pnt, value) end)
      return
    end
  end
  local item = table.remove(round, 1)
  if item == nil then
    for i, dev in ipairs(devs) do
      for _, req in ipairs(dev.readreqs) do round[#round + 1] = { d = i, req = req } end
    end
    swg.timer("step", cfg.update_interval, step)
    return
  end
  local req = item.req
  swg.sndrcv485(rtu(devs[item.d].slave, string.pack(">BI2I2", req[1], req[2], req[3])), 5, cfg.timeout, 256,
    function(c, result, data) on_read(c, result, data, item.d, req) end)
end

local function init(ctx)
  local t = parse_tag(ctx.tag)
  cfg.update_interval = t.update_interval or 1000
  cfg.timeout = t.timeout or 500
  for i, device in ipairs(ctx.devices) do
    local dt = parse_tag(device.tag)
    local dev = { slave = dt.slave or 1, readreqs = dt.readreqs or {}, points = {}, errors = 0 }
    for j, point in ipairs(device.points) do
      local pt = parse_tag(point.tag)
      local p = { func_code = pt.func_code or 3, addr = pt.addr or 0, datatype = pt.datatype or "u16",
                  obj_type = point.obj_type }
      if (p.func_code == 2 or p.func_code == 4) and not point.read_only then
        error("device " .. device.name .. " point " .. point.name .. ": writable object on an input address")
      end
      dev.points[j] = p
    end
    devs[i] = dev
  end
  swg.timer("step", 0, step)
end

return swg.interface_rs485, init
