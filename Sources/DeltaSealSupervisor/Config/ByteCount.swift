import DeltaSealCore
import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
import Foundation

/// Byte counts as people write them: `1048576`, `64MiB`, `10GiB`, `512KiB`, `1G`.
public enum ByteCount {
    public static func parse(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int64)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
                                        ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40), ("B", 1)]
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let n = Int64(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n >= 0 else { return nil }
            let (product, overflow) = n.multipliedReportingOverflow(by: factor)
            return overflow ? nil : product
        }
        return Int64(trimmed).flatMap { $0 >= 0 ? $0 : nil }
    }
}
