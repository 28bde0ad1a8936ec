-- compat_bcd: each half octet is one decimal digit: 0x7869 0x5231 = 78695231.
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
  doc = "each half octet one decimal digit: 0x78695231 = 78695231",
  decode = function(regs)
    local value, reliable = 0, true
    for _, r in ipairs(regs) do
      for shift = 12, 0, -4 do
        local nibble = (r >> shift) & 0xF
        if nibble > 9 then reliable = false end
        value = value * 10 + nibble
      end
    end
    return value, reliable
  end,
  encode = function(value, count)
    local d = digits(value, count * 4)
    local regs = {}
    for i = 1, #d, 4 do regs[#regs + 1] = (d[i] << 12) | (d[i + 1] << 8) | (d[i + 2] << 4) | d[i + 3] end
    return regs
  end,
}
