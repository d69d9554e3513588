import Foundation

/// One input record, validated.
public struct Record: Sendable {
    public var collection: String
    public var id: String
    public var embedding: [Float]
    public var document: String?
    /// Flat metadata re-encoded as canonical JSON (sorted keys), or `nil`.
    public var metadataJSON: String?
}

/// A JSON value, decoded strictly: booleans are never numbers and numbers never booleans.
enum JSONValue: Decodable, Encodable {
    case string(String), number(Double), bool(Bool), null, array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .number(let n): try c.encode(n)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    var typeName: String {
        switch self {
        case .string: return "string"
        case .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// Parses and validates one NDJSON line into a ``Record``; every failure is a reason a person can act on.
struct RecordParser {
    private let decoder = JSONDecoder()
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    struct Invalid: Error { var reason: String }

    func parse(_ line: ArraySlice<UInt8>) throws -> Record {
        guard String(validating: line, as: UTF8.self) != nil else { throw Invalid(reason: "line is not valid UTF-8") }
        let object: [String: JSONValue]
        do {
            object = try decoder.decode([String: JSONValue].self, from: Data(line))
        } catch {
            if (try? decoder.decode(JSONValue.self, from: Data(line))) != nil {
                throw Invalid(reason: "record must be a JSON object")
            }
            throw Invalid(reason: "malformed JSON")
        }
        let known: Set<String> = ["collection", "id", "embedding", "document", "metadata"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw Invalid(reason: "unknown field \"\(unknown)\"")
        }
        let collection = try requiredString(object, "collection")
        let id = try requiredString(object, "id")
        guard case .array(let values)? = object["embedding"] else {
            throw Invalid(reason: object["embedding"].map { "field \"embedding\" must be an array of numbers, not \($0.typeName)" }
                ?? "missing field \"embedding\"")
        }
        guard !values.isEmpty else { throw Invalid(reason: "field \"embedding\" is empty") }
        var embedding: [Float] = []
        embedding.reserveCapacity(values.count)
        for (index, value) in values.enumerated() {
            guard case .number(let n) = value else {
                throw Invalid(reason: "embedding[\(index)] must be a number, not \(value.typeName)")
            }
            guard n.isFinite, abs(n) <= Double(Float.greatestFiniteMagnitude) else {
                throw Invalid(reason: "embedding[\(index)] = \(n) does not fit a float32")
            }
            embedding.append(Float(n))
        }
        var document: String?
        switch object["document"] {
        case nil, .null?: document = nil
        case .string(let s)?: document = s
        case let other?: throw Invalid(reason: "field \"document\" must be a string, not \(other.typeName)")
        }
        var metadataJSON: String?
        switch object["metadata"] {
        case nil, .null?: metadataJSON = nil
        case .object(let fields)?:
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                switch value {
                case .string, .number, .bool: continue
                default: throw Invalid(reason: "metadata \"\(key)\" must be a string, number or boolean, not \(value.typeName)")
                }
            }
            metadataJSON = String(decoding: try encoder.encode(fields), as: UTF8.self)
        case let other?: throw Invalid(reason: "field \"metadata\" must be an object, not \(other.typeName)")
        }
        return Record(collection: collection, id: id, embedding: embedding, document: document, metadataJSON: metadataJSON)
    }

    private func requiredString(_ object: [String: JSONValue], _ field: String) throws -> String {
        switch object[field] {
        case nil: throw Invalid(reason: "missing field \"\(field)\"")
        case .string(let s)?:
            guard !s.isEmpty else { throw Invalid(reason: "field \"\(field)\" is empty") }
            return s
        case let other?: throw Invalid(reason: "field \"\(field)\" must be a string, not \(other.typeName)")
        }
    }
}
