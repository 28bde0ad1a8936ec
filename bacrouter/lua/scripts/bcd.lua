-- bcd: each octet is one decimal digit, most significant first: 0x0509 0x0702 = 5972.
-- A conversion script returns a table: registers (how many it reads; 0 = the point's reg_num),
-- decode(regs) -> value, reliable  and, for writable points, encode(value, count) -> regs.
-- regs are 16-bit registers, most significant first (the slave's integer register order applied).
local function octets(regs)
  local out = {}
  for _, r in ipairs(regs) do
    out[#out + 1] = (r >> 8) & 0xFF
    out[#out + 1] = r & 0xFF
  end
  return out
end

local function digits(value, count)
  local n = math.floor(value + 0.5)
  if n < 0 or n >= 10 ^ count then error(("%s does not fit %d decimal digits"):format(value, count), 0) end
  local out = {}
  for i = count, 1, -1 do
    out[i] = n % 10
    n = n // 10
  end
  return out
end

return {
  registers = 0,
  doc = "each octet one decimal digit: 0x05090702 = 5972",
  decode = function(regs)
    local value, reliable = 0, true
    for _, o in ipairs(octets(regs)) do
      if o > 9 then reliable = false end
      value = value * 10 + o
    end
    return value, reliable
  end,
  encode = function(value, count)
    local d = digits(value, count * 2)
    local regs = {}
    for i = 1, #d, 2 do regs[#regs + 1] = (d[i] << 8) | d[i + 1] end
    return regs
  end,
}
