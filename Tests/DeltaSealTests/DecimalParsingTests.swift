import DeltaSealCore
import DeltaSealSQLite
import DeltaSealSystem
import DeltaSealWriter
import Foundation
import Testing

/// The writer's decimal conversion (Clinger, then Eisel-Lemire, then `strtod`) gives `strtod`'s
/// very double, bit for bit, on every kind of literal: short and 17-digit forms, 19 digits and
/// more, ties, subnormals, the edges of the range and beyond it.
@Suite struct DecimalParsingTests {
    static func strtodValue(_ text: String) -> Double { text.withCString { strtod($0, nil) } }

    /// Literals at the edges: subnormals, the largest doubles, ties, 19 digits and more.
    static let edges = [
        "0", "-0", "0.0", "0e0", "0e-400", "0e400", "1", "-1", "1e0", "1E+0", "1e-0",
        // Subnormals and the normal boundary.
        "4.9406564584124654e-324", "4.9e-324", "5e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
        "2.2250738585072011e-308", "2.2250738585072012e-308", "2.2250738585072014e-308", "2.225073858507201e-308",
        "1e-310", "1e-320", "1e-323", "1e-324", "1e-342", "1e-343", "1e-400", "123456789e-330",
        // The top of the range and beyond.
        "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "1.797693134862315807e308",
        "1e308", "1e309", "1e400", "9.9999999999999999e307", "17976931348623157e292",
        // Ties: exactly half-way between two doubles, and their neighbours.
        "9007199254740993", "9007199254740992", "9007199254740994", "9007199254740995", "9007199254740997",
        "18014398509481989", "18014398509481990", "18014398509481991", "36028797018963970",
        "1.00000000000000011102230246251565404236316680908203125", "1.0000000000000001110223024625156540423631668090820312",
        "1.0000000000000001110223024625156540423631668090820313", "0.5000000000000000277555756156289135105907917022705078125",
        // 19 digits and more.
        "1234567890123456789", "12345678901234567890", "123456789012345678901", "9999999999999999999", "10000000000000000000",
        "18446744073709551615", "18446744073709551616", "0.1000000000000000055511151231257827021181583404541015625",
        "0.10000000000000000555", "3.14159265358979323846264338327950288", "2.718281828459045235360287471352662497757",
        "1234567890123456789012345678901234567890e-20", "0.000000000000000000000000000000000000001234567890123456789012",
        "1.0000000000000000000000000000000000001", "9.999999999999999999999999999999999999e22",
        // Short forms and Clinger's edges.
        "0.1", "0.2", "0.3", "1e22", "1e23", "1e-22", "1e-23", "9007199254740992e22", "9007199254740993e-22",
        "0.000001", "-0.123456", "123456.789e-3", "7.0E-10", "1e-5", "4.35", "8.6e1",
        // The shortest round-trip forms of well-known doubles.
        "0.30000000000000004", "2.220446049250313e-16", "1.7976931348623157e+308", "5e-324", "2.2250738585072014e-308",
    ]

    /// `count` literals of every form, drawn from `random`.
    static func randomLiterals(_ count: Int, random: inout SplitMix64) -> [String] {
        var literals: [String] = []
        for n in 0..<count {
            switch n % 8 {
            case 0, 1:
                // Any finite double, in the forms serializers write.
                var value: Double
                repeat { value = Double(bitPattern: random.next()) } while !value.isFinite
                let forms = ["%.17g", "%.16g", "%.15g", "%.\(Int(random.next() % 25))e"]
                literals.append(String(format: forms[n % 2 == 0 ? 0 : Int(random.next() % 4)], value))
            case 2:
                var value: Double
                repeat { value = Double(bitPattern: random.next()) } while !value.isFinite
                literals.append("\(value)")
            case 3:
                // Embedding-like values: in (-1, 1), six to twenty decimals.
                literals.append(String(format: "%.\(6 + Int(random.next() % 15))f", random.nextUnit() * 2 - 1))
            case 4:
                // Digits at random, 1 to 25 of them, a point anywhere, any exponent.
                let digits = 1 + Int(random.next() % 25)
                var text = (0..<digits).map { _ in String(random.next() % 10) }.joined()
                if random.next() % 2 == 0 { text.insert(".", at: text.index(text.startIndex, offsetBy: Int(random.next() % UInt64(digits)))) }
                if text.hasPrefix(".") { text = "0" + text }
                literals.append((random.next() % 2 == 0 ? "-" : "") + text + "e\(Int(random.next() % 700) - 360)")
            case 5:
                // Exact ties above 2^53: (2m + 1) · 2^k, and the integers next to them.
                let m = (UInt64(1) << 52) | (random.next() >> 12)
                let k = UInt64(random.next() % 11)
                let tie = (2 * m + 1) << k
                let offsets: [Int64] = [0, -1, 1]
                let offset = offsets[Int(random.next() % 3)]
                literals.append("\(offset < 0 ? tie - 1 : tie + UInt64(offset))")
            case 6:
                // Exact ties below: (2m + 1) · 5^k · 10^-k = (2m + 1) / 2^k, at most 20 digits.
                let m = (UInt64(1) << 52) | (random.next() >> 12)
                let k = 1 + Int(random.next() % 4)
                var five: UInt64 = 1
                for _ in 0..<k { five *= 5 }
                literals.append("\((2 * m + 1) * five)e-\(k)")
            default:
                // Around the subnormal boundary and the top of the range.
                let exponent = random.next() % 2 == 0 ? -(300 + Int(random.next() % 50)) : 290 + Int(random.next() % 20)
                literals.append(String(format: "%.\(Int(random.next() % 20))fe\(exponent)", 1 + random.nextUnit() * 9))
            }
        }
        return literals
    }

    /// Whether `text` is a number by RFC 8259's grammar (the random digits may have leading zeros).
    static func isJSONNumber(_ text: String) -> Bool {
        text.wholeMatch(of: /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/) != nil
    }

    @Test func agreesWithStrtodBitForBitOnEveryKindOfLiteral() {
        var random = SplitMix64(seed: 17)
        let literals = Self.edges + Self.randomLiterals(200_000, random: &random)
        var answered = 0
        var mismatches: [String] = []
        for literal in literals {
            guard let got = FastDecimal.correctlyRounded(Array(literal.utf8)) else { continue }
            answered += 1
            if got.bitPattern != Self.strtodValue(literal).bitPattern { mismatches.append(literal) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
        // Most of them are decided without strtod (what is left: subnormal and infinite results,
        // exponents beyond the table, ties).
        #expect(answered > literals.count * 7 / 10, "answered \(answered) of \(literals.count)")
    }

    @Test func decidesTheShortestRoundTripFormsOfNormalDoubles() {
        var random = SplitMix64(seed: 19)
        var total = 0
        var answered = 0
        for n in 0..<100_000 {
            var value: Double
            repeat { value = Double(bitPattern: random.next()) } while !value.isNormal
            let literal = n % 2 == 0 ? "\(value)" : String(format: "%.17g", value)
            total += 1
            if let got = FastDecimal.correctlyRounded(Array(literal.utf8)) {
                answered += 1
                #expect(got.bitPattern == value.bitPattern, "\(literal)")
            }
        }
        #expect(answered >= total * 999 / 1000, "answered \(answered) of \(total)")
    }

    @Test func leavesToStrtodWhatItCannotDecide() {
        // Subnormal and infinite results, non-numbers.
        for literal in ["4.9e-324", "1e-310", "2.2250738585072011e-308", "1e309", "1e400", "1.7976931348623159e308", "", "-", "%.6f", "1e", "0x10", "1.5.3"] {
            #expect(FastDecimal.correctlyRounded(Array(literal.utf8)) == nil, "\(literal)")
        }
        // Exact ties and products too close to one to tell; with more than 19 digits, w and w + 1
        // rounding apart.
        for literal in ["9007199254740993", "1e23", "1.00000000000000011102230246251565404236316680908203125"] {
            #expect(FastDecimal.correctlyRounded(Array(literal.utf8)) == nil, "\(literal)")
        }
        // What Clinger's path cannot do, Eisel-Lemire does.
        for literal in ["1e-23", "1e25", "3e23", "123456789012345678", "0.12345678901234567", "1.2345678901234567e-300"] {
            #expect(FastDecimal.correctlyRounded(Array(literal.utf8)) == Self.strtodValue(literal), "\(literal)")
        }
    }

    /// Through the parser, fast path and fallbacks together: each embedding value is
    /// `Float(strtod(literal))`, whatever the literal.
    @Test func theParserStoresStrtodsValueRoundedToFloat32() throws {
        var random = SplitMix64(seed: 23)
        let literals = (Self.edges + Self.randomLiterals(20_000, random: &random)).filter {
            let value = Self.strtodValue($0)
            return Self.isJSONNumber($0) && value.isFinite && abs(value) <= Double(Float.greatestFiniteMagnitude)
        }
        let parser = RecordParser()
        var fields = ParsedRecord()
        for chunk in stride(from: 0, to: literals.count, by: 100) {
            let values = Array(literals[chunk..<min(chunk + 100, literals.count)])
            let line = Array("{\"collection\":\"c\",\"id\":\"x\",\"embedding\":[\(values.joined(separator: ", "))]}".utf8)
            let record = try parser.parse(line[...])
            try line.withUnsafeBufferPointer { try parser.parse($0, into: &fields) }
            #expect(fields.record == record)
            for (literal, got) in zip(values, record.embedding) where got.bitPattern != Float(Self.strtodValue(literal)).bitPattern {
                Issue.record("\(literal): \(got) is not \(Float(Self.strtodValue(literal)))")
            }
        }
    }
}

/// The writer's reusable record: parsing line after line into one ``ParsedRecord`` gives what a
/// fresh parse of each line gives, whatever the line before held or how it failed.
@Suite struct ParsedRecordReuseTests {
    static let lines = [
        #"{"collection":"c","id":"a","embedding":[1,2,3],"document":"long document \u00e9 text","metadata":{"z":1,"a":"x\ny","m":true}}"#,
        #"{"collection":"c","id":"b","embedding":[0.5]}"#,
        #"{"collection":"other","id":"c\u0000d","embedding":[1e-7,-2.5E3],"document":null,"metadata":null}"#,
        #"{"collection":"c","id":"e","embedding":[1,2,"x"],"metadata":{"k":1}}"#,
        #"{"id":"f","collection":"c","embedding":[],"document":"d"}"#,
        #"{"collection":"c","id":"g","embedding":[1],"metadata":{}}"#,
        #"{"collection":"c","id":"h","embedding":[1],"metadata":{"k":1,"k":2}}"#,
        #"{"collection":"c","id":"i","embedding":[1],"metadata":{"x":{"y":1}}}"#,
        #"{"collection":"c","id":"j","embedding":[1],"document":"","metadata":{"b":-0.0,"a":false}}"#,
        #"{"collection":"c","id":"k","embedding":[1],"extra":{"a":[1,{"b":2}]},"extra":1}"#,
        #"{"collection":"c","id":"l","embedding":[01]}"#,
        #"{"embedding":[9007199254740993, 0.30000000000000004, 1e38, 3.5e38],"collection":"c","id":"m"}"#,
        #"{"collection":"c","id":"n","embedding":[1.5],"document":"\ud83d\ude00"}"#,
    ]

    @Test func aReusedRecordParsesEachLineAsAFreshOneDoes() throws {
        let parser = RecordParser()
        var fields = ParsedRecord()
        for _ in 0..<3 {
            for text in Self.lines + Self.lines.reversed() {
                let line = Array(text.utf8)
                let fresh = Result(catching: { try parser.parse(line[...]) })
                let reused = Result(catching: { () throws -> Record in
                    try line.withUnsafeBufferPointer { try parser.parse($0, into: &fields) }
                    return fields.record
                })
                switch (fresh, reused) {
                case let (.success(a), .success(b)): #expect(a == b, "\(text)")
                case (.failure(let a as RecordParser.Invalid), .failure(let b as RecordParser.Invalid)): #expect(a == b, "\(text)")
                default: Issue.record("\(text): \(fresh) against \(reused)")
                }
            }
        }
    }

    @Test func namesTheMetadataKeyWhoseValueIsNestedNotTheKeysInside() {
        let error = #expect(throws: RecordParser.Invalid.self) {
            try RecordParser().parse(Array(#"{"collection":"c","id":"a","embedding":[1],"metadata":{"x":{"y":1}}}"#.utf8)[...])
        }
        #expect(error?.reason == "metadata \"x\" must be a string, number or boolean, not object")
    }
}
