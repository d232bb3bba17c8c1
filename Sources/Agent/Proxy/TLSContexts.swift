import NIOConcurrencyHelpers
import NIOSSL

/// One `NIOSSLContext` per CA bundle, shared by every event loop (building one loads the
/// system trust store). Certificates and hostnames are always verified (SECURITY S13); a
/// connection's `ca_bundle` is trusted in addition to the system roots.
final class TLSContexts: Sendable {
    private let contexts = NIOLockedValueBox<[String: NIOSSLContext]>([:])

    func context(caBundle: String?) throws -> NIOSSLContext {
        let key = caBundle ?? ""
        return try contexts.withLockedValue { contexts in
            if let context = contexts[key] { return context }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            configuration.applicationProtocols = ["http/1.1"]
            if let caBundle {
                configuration.additionalTrustRoots = [.file(caBundle)]
            }
            let context: NIOSSLContext
            do {
                context = try NIOSSLContext(configuration: configuration)
            } catch {
                throw AgentError(.configuration, "the CA bundle '\(caBundle ?? "system")' could not be loaded", underlying: error)
            }
            contexts[key] = context
            return context
        }
    }
}
