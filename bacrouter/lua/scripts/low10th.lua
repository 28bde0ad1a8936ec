-- low10th: one register, the high octet is the whole part and the low octet the tenths: 0x0503 = 5.3.
-- A low octet above 9 is not a tenth: the value is unreliable. Found in York TMS2100 thermostats.
return {
  registers = 1,
  doc = "one register: high octet the whole part, low octet tenths: 0x0503 = 5.3",
  decode = function(regs)
    local whole, tenths = (regs[1] >> 8) & 0xFF, regs[1] & 0xFF
    return whole + tenths / 10, tenths <= 9
  end,
  encode = function(value, count)
    local tenths = math.floor(value * 10 + 0.5)
    if tenths < 0 or tenths > 2559 then error(("%s is outside 0.0..255.9"):format(value), 0) end
    return { ((tenths // 10) << 8) | (tenths % 10) }
  end,
}
