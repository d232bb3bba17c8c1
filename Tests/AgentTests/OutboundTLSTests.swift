import NIOCore
import Foundation
import OAuth
import Testing
import TestSupport
@testable import Agent

/// SECURITY S13: https is verified. A local https server with a self-signed certificate for
/// 127.0.0.1 is refused by default and accepted only with that certificate as `ca_bundle`.
@Suite(.serialized) struct OutboundTLSTests {
    /// A throwaway CA-less certificate and a Python https server that answers `{"ok":true}`.
    final class TLSServer: @unchecked Sendable {
        let directory: URL
        let port: Int
        let process: Process
        var certificate: String { directory.appendingPathComponent("cert.pem").path }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let gen = try Run.capture(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                       "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                                       "-keyout", directory.appendingPathComponent("key.pem").path,
                                       "-out", directory.appendingPathComponent("cert.pem").path])
            guard gen.status == 0 else { throw HarnessError("openssl failed: \(gen.stderr)") }
            let script = """
            import http.server, ssl, sys
            class H(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    body = b'{"ok":true}'
                    self.send_response(200); self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
                def log_message(self, *a): pass
            s = http.server.HTTPServer(("127.0.0.1", 0), H)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
            s.socket = ctx.wrap_socket(s.socket, server_side=True)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, directory.appendingPathComponent("cert.pem").path, directory.appendingPathComponent("key.pem").path]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            self.process = process
            var line = Data()
            while !line.contains(0x0A) {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                line.append(chunk)
            }
            guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                process.terminate()
                throw HarnessError("the https server did not start")
            }
            self.port = port
        }

        func stop() {
            kill(process.processIdentifier, SIGKILL)
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func selfSignedCertificateIsRefusedWithoutCABundleAndAcceptedWithIt() async throws {
        let server = try TLSServer()
        defer { server.stop() }
        let client = OutboundHTTPClient(timeout: .seconds(10))
        let request = HTTPRequestSpec(method: "GET", url: URL(string: "https://127.0.0.1:\(server.port)/")!, headers: [], body: Data())
        await #expect(throws: AgentError.self) { _ = try await client.send(request) }
        do {
            _ = try await client.send(request)
        } catch let error as AgentError {
            #expect(error.code == .transient)
            #expect(error.message.contains("TLS") || error.message.contains("certificate") || error.message.contains("handshake"), "\(error.message)")
        }
        let response = try await client.send(request, tls: TLSOptions(caBundle: server.certificate))
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == #"{"ok":true}"#)
    }
}
