import DeltaSealCore
import DeltaSealDelta

/// The fuzz target of the manifest decoder: any bytes as a manifest, the way a verifier reads one
/// from a store it does not trust.
///
/// A decoding error is fine; a crash, a trap or a sanitizer report is a bug, and so is a decoded
/// manifest whose stable encoding does not decode back to the same value.
enum ManifestFuzz {
    static func run(_ bytes: [UInt8]) {
        let manifest: Manifest
        do {
            manifest = try StableJSON.decode(Manifest.self, from: bytes)
        } catch {
            return
        }
        // Must hold on any decoded value, sound or not: it is what decides that a manifest is unsound.
        _ = manifest.structuralProblems()
        _ = (manifest.recordCount, manifest.rawBytes, manifest.compressedBytes)
        let encoded: [UInt8]
        do {
            encoded = try StableJSON.encode(manifest)
        } catch {
            preconditionFailure("a decoded manifest does not encode: \(error)")
        }
        let again: Manifest
        do {
            again = try StableJSON.decode(Manifest.self, from: encoded)
        } catch {
            preconditionFailure("the stable encoding of a decoded manifest does not decode: \(error)\n\(String(decoding: encoded, as: UTF8.self))")
        }
        precondition(again == manifest, "a manifest changed through encode and decode:\n\(String(decoding: encoded, as: UTF8.self))")
        precondition((try? StableJSON.encode(again)) == encoded, "the stable encoding is not stable")
    }
}
