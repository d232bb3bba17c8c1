import NIOConcurrencyHelpers
import NIOSSL

/// How a connection's TLS connections are made: extra trusted CAs, and a client
/// certificate for gateways and authorization servers that want mutual TLS.
public struct TLSOptions: Sendable, Hashable {
    /// A PEM bundle trusted in addition to the system roots (`ca_bundle`).
    public var caBundle: String?
    /// PEM certificate (chain) and its key (`tls_client_certificate`, `tls_client_key`).
    public var clientCertificate: String?
    public var clientKey: String?

    public init(caBundle: String? = nil, clientCertificate: String? = nil, clientKey: String? = nil) {
        self.caBundle = caBundle
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
    }
}

/// One `NIOSSLContext` per set of options, shared by the proxy's event loops and the
/// outbound client (building one loads the system trust store). Certificates and
/// hostnames are always verified and TLS is at least 1.2 (SECURITY S13).
final class TLSContexts: Sendable {
    static let shared = TLSContexts()
    private let contexts = NIOLockedValueBox<[TLSOptions: NIOSSLContext]>([:])

    func context(_ options: TLSOptions) throws -> NIOSSLContext {
        try contexts.withLockedValue { contexts in
            if let context = contexts[options] { return context }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            configuration.minimumTLSVersion = .tlsv12
            configuration.applicationProtocols = ["http/1.1"]
            if let caBundle = options.caBundle {
                configuration.additionalTrustRoots = [.file(caBundle)]
            }
            let context: NIOSSLContext
            do {
                if let certificate = options.clientCertificate, let key = options.clientKey {
                    configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                    configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                }
                context = try NIOSSLContext(configuration: configuration)
            } catch {
                let what = options.clientCertificate == nil ? "the CA bundle '\(options.caBundle ?? "system")'"
                    : "the CA bundle '\(options.caBundle ?? "system")' or the client certificate '\(options.clientCertificate ?? "")' and its key"
                throw AgentError(.configuration, "TLS cannot be set up: \(what) could not be loaded (\(error)). Check the files named in connections.toml.", underlying: error)
            }
            contexts[options] = context
            return context
        }
    }
}
