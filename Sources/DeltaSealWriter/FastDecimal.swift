/// Clinger's fast path for decimal numbers: a literal whose significant digits fit in 2^53 and
/// whose power of ten is at most 22 is one exact integer times (or over) one exact power of ten,
/// so a single IEEE operation gives the correctly rounded double: the very double `strtod`
/// returns. Anything else (more digits, larger exponents) is nil and goes to `strtod`. Embeddings
/// written with a few decimals (`%.6f`, most serializers' short forms) all take it.
public enum FastDecimal {
    /// 10^0 ... 10^22, each exactly representable as a double.
    static let powers: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ]

    /// `bytes` (a JSON number) as `strtod` would read it, or nil when the fast path cannot say.
    public static func double(_ bytes: [UInt8]) -> Double? {
        bytes.withUnsafeBufferPointer { double($0[...]) }
    }

    /// The same on the parser's bytes.
    static func double(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> Double? {
        var i = s.startIndex
        let end = s.endIndex
        func digit(_ i: Int) -> UInt8? {
            guard i < end else { return nil }
            let d = s[i] &- 0x30
            return d < 10 ? d : nil
        }
        var negative = false
        if i < end && s[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        var mantissa: UInt64 = 0
        var significant = 0
        var exponent = 0
        while let d = digit(i) {
            if mantissa != 0 || d != 0 { significant += 1 }
            guard significant <= 19 else { return nil }
            mantissa = mantissa * 10 + UInt64(d)
            i += 1
        }
        if i < end && s[i] == UInt8(ascii: ".") {
            i += 1
            while let d = digit(i) {
                if mantissa != 0 || d != 0 { significant += 1 }
                guard significant <= 19 else { return nil }
                mantissa = mantissa * 10 + UInt64(d)
                exponent -= 1
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
            while let d = digit(i) {
                e = e * 10 + Int(d)
                guard e <= 100_000 else { return nil }
                i += 1
            }
            exponent += negativeExponent ? -e : e
        }
        guard i == end else { return nil }
        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        guard mantissa <= 1 << 53, exponent >= -22, exponent <= 22 else { return nil }
        let value = exponent < 0 ? Double(mantissa) / powers[-exponent] : Double(mantissa) * powers[exponent]
        return negative ? -value : value
    }
}
