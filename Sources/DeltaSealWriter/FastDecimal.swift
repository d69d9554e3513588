/// Decimal numbers to doubles without `strtod`, bit for bit what `strtod` returns.
///
/// Two exact methods, each of which either answers with the correctly rounded double or says it
/// cannot (nil: the caller asks `strtod`):
///
/// - Clinger's fast path: a literal whose significant digits fit in 2^53 and whose power of ten is
///   at most 22 is one exact integer times (or over) one exact power of ten, so a single IEEE
///   operation gives the correctly rounded double. Embeddings written with a few decimals
///   (`%.6f`, most serializers' short forms) all take it.
/// - Eisel-Lemire (https://nigeltao.github.io/blog/2020/eisel-lemire.html): up to 19 significant
///   digits and any power of ten from 10^-342 to 10^308, one or two 64×64-bit multiplications by
///   a 128-bit approximation of the power of ten; it gives up on the rare products too close to
///   a rounding boundary to decide, and on subnormal and infinite results. This is what the
///   shortest round-trip forms (`repr`, `%.17g`: 16 or 17 digits) need.
///
/// More than 19 significant digits: the first 19 (w) bound the value (w and w + 1, in units of
/// the last kept digit); when both round to the same double, that is the answer.
public enum FastDecimal {
    /// 10^0 ... 10^22, each exactly representable as a double.
    static let powers: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ]

    /// `bytes` (a JSON number) as `strtod` would read it by Clinger's fast path alone, or nil
    /// when that path cannot say.
    public static func double(_ bytes: [UInt8]) -> Double? {
        bytes.withUnsafeBufferPointer { double($0[...]) }
    }

    /// The same on the parser's bytes.
    static func double(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> Double? {
        guard let decimal = Decimal(s), !decimal.truncated else { return nil }
        if decimal.mantissa == 0 { return decimal.negative ? -0.0 : 0.0 }
        return clinger(decimal.mantissa, decimal.exponent, negative: decimal.negative)
    }

    /// `bytes` (a JSON number) as `strtod` would read it, by Clinger's fast path or
    /// Eisel-Lemire, or nil when neither can say (then only `strtod` can).
    public static func correctlyRounded(_ bytes: [UInt8]) -> Double? {
        bytes.withUnsafeBufferPointer { correctlyRounded($0[...]) }
    }

    /// The same on the parser's bytes.
    static func correctlyRounded(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> Double? {
        guard let decimal = Decimal(s), decimal.digits else { return nil }
        guard decimal.truncated else { return value(decimal.mantissa, decimal.exponent, negative: decimal.negative) }
        // The value lies strictly between w and w + 1 units of the last digit kept.
        guard let low = eiselLemire(decimal.mantissa, decimal.exponent, negative: decimal.negative),
              let high = eiselLemire(decimal.mantissa + 1, decimal.exponent, negative: decimal.negative),
              low.bitPattern == high.bitPattern else { return nil }
        return low
    }

    /// `mantissa` × 10^`exponent` (the mantissa exact, at most 19 digits), or nil when only
    /// `strtod` can say.
    @inline(__always)
    static func value(_ mantissa: UInt64, _ exponent: Int, negative: Bool) -> Double? {
        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        if let fast = clinger(mantissa, exponent, negative: negative) { return fast }
        return eiselLemire(mantissa, exponent, negative: negative)
    }

    /// Clinger's fast path: one exact operation on exact operands.
    @inline(__always)
    static func clinger(_ mantissa: UInt64, _ exponent: Int, negative: Bool) -> Double? {
        guard mantissa <= 1 << 53, exponent >= -22, exponent <= 22 else { return nil }
        let value = exponent < 0 ? Double(mantissa) / powers[-exponent] : Double(mantissa) * powers[exponent]
        // The sign as a bit, not a branch (random in embeddings); `value` is positive or zero.
        return Double(bitPattern: value.bitPattern | UInt64(negative ? 1 : 0) << 63)
    }

    /// Eisel-Lemire for a non-zero `mantissa` × 10^`exponent`: the correctly rounded double, or
    /// nil when the 128-bit product is too close to a rounding boundary to tell, or the result
    /// is subnormal or out of range.
    static func eiselLemire(_ mantissa: UInt64, _ exponent: Int, negative: Bool) -> Double? {
        guard mantissa != 0, exponent >= minimumExponent, exponent <= maximumExponent else { return nil }
        // Normalize: the mantissa's top bit set.
        let shift = mantissa.leadingZeroBitCount
        let m = mantissa << UInt64(shift)
        // The biased binary exponent: floor(exponent × log2(10)) + 64 + 1023, less the shift.
        var binaryExponent = UInt64(bitPattern: Int64((217_706 &* exponent) >> 16) &+ 64 &+ 1023) &- UInt64(shift)
        let row = (exponent - minimumExponent) * 2
        let (powerHigh, powerLow) = powersOfTen128.withUnsafeBufferPointer { ($0[row], $0[row + 1]) }
        var (high, low) = m.multipliedFullWidth(by: powerHigh)
        // The low bits that decide the rounding are all ones and might carry: the wider product.
        if high & 0x1FF == 0x1FF && low &+ m < m {
            let (nextHigh, nextLow) = m.multipliedFullWidth(by: powerLow)
            var mergedHigh = high
            let mergedLow = low &+ nextHigh
            if mergedLow < low { mergedHigh &+= 1 }
            if mergedHigh & 0x1FF == 0x1FF && mergedLow &+ 1 == 0 && nextLow &+ m < m { return nil }
            high = mergedHigh
            low = mergedLow
        }
        // The top 54 bits.
        let top = high >> 63
        var significand = high >> (top + 9)
        binaryExponent &-= 1 ^ top
        // Exactly half-way between two doubles, or only nearly: the approximation cannot tell.
        if low == 0 && high & 0x1FF == 0 && significand & 3 == 1 { return nil }
        // Round to 53 bits, ties to even.
        significand += significand & 1
        significand >>= 1
        if significand >> 53 > 0 {
            significand >>= 1
            binaryExponent &+= 1
        }
        // 0 (or wrapped below it): subnormal; 0x7FF and above: infinite.
        if binaryExponent &- 1 >= 0x7FF - 1 { return nil }
        let sign: UInt64 = negative ? 1 << 63 : 0
        return Double(bitPattern: sign | binaryExponent << 52 | significand & 0x000F_FFFF_FFFF_FFFF)
    }

    /// A decimal literal's sign, first 19 significant digits and power of ten.
    struct Decimal {
        var negative = false
        /// The first 19 significant digits (all of them if fewer).
        var mantissa: UInt64 = 0
        /// The power of ten of the mantissa's last digit.
        var exponent = 0
        /// Whether non-zero digits were dropped after the 19th.
        var truncated = false
        /// Whether the literal had a digit before its exponent, and one after an `e` if it has one.
        var digits = false

        /// Reads `-? digits (. digits)? ([eE] [+-]? digits)?` (leniently: what the JSON grammar
        /// refuses is the parser's business); nil on anything else or an exponent beyond 100,000.
        init?(_ s: Slice<UnsafeBufferPointer<UInt8>>) {
            var i = s.startIndex
            let end = s.endIndex
            @inline(__always) func digit(_ i: Int) -> UInt64? {
                guard i < end else { return nil }
                let d = s[i] &- 0x30
                return d < 10 ? UInt64(d) : nil
            }
            if i < end && s[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            var significant = 0
            while let d = digit(i) {
                digits = true
                if significant < 19 {
                    if mantissa != 0 || d != 0 { significant += 1 }
                    mantissa = mantissa * 10 + d
                } else {
                    exponent += 1
                    if d != 0 { truncated = true }
                }
                i += 1
            }
            if i < end && s[i] == UInt8(ascii: ".") {
                i += 1
                while let d = digit(i) {
                    digits = true
                    if significant < 19 {
                        if mantissa != 0 || d != 0 { significant += 1 }
                        mantissa = mantissa * 10 + d
                        exponent -= 1
                    } else if d != 0 {
                        truncated = true
                    }
                    i += 1
                }
            }
            if i < end && (s[i] == UInt8(ascii: "e") || s[i] == UInt8(ascii: "E")) {
                i += 1
                var negativeExponent = false
                if i < end && (s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-")) {
                    negativeExponent = s[i] == UInt8(ascii: "-")
                    i += 1
                }
                var e = 0
                let exponentStart = i
                while let d = digit(i) {
                    e = e * 10 + Int(d)
                    guard e <= 100_000 else { return nil }
                    i += 1
                }
                if i == exponentStart { digits = false }
                exponent += negativeExponent ? -e : e
            }
            guard i == end else { return nil }
        }
    }
}
