-- m10k: each register holds -9999..9999, most significant first: 0x1f74 0x0a69 = 8052 * 10000 + 2665.
return {
  registers = 0,
  doc = "each register -9999..9999, most significant first: 0x1f74 0x0a69 = 80522665",
  decode = function(regs)
    local value, reliable = 0, true
    for _, r in ipairs(regs) do
      local signed = (r & 0x8000 ~= 0) and r - 0x10000 or r
      if signed < -9999 or signed > 9999 then reliable = false end
      value = value * 10000 + signed
    end
    return value, reliable
  end,
  encode = function(value, count)
    local n = math.floor(value + 0.5)
    local negative = n < 0
    if negative then n = -n end
    local parts = {}
    for i = count, 1, -1 do
      parts[i] = n % 10000
      n = n // 10000
    end
    if n ~= 0 then error(("%s does not fit %d registers of 0..9999"):format(value, count), 0) end
    if negative then
      for i, p in ipairs(parts) do parts[i] = (-p) & 0xFFFF end
    end
    return parts
  end,
}
