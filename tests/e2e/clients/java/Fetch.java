// Java's java.net.http.HttpClient through oauth1-proxy, launched as a single
// source file (java Fetch.java ...). The proxy is a static ProxySelector (the
// default selector skips localhost); the mitmproxy CA is trusted through a
// PKCS#12 trust store given with -Djavax.net.ssl.trustStore=... .
//
//   java -Djavax.net.ssl.trustStore=trust.p12 -Djavax.net.ssl.trustStorePassword=PW \
//        Fetch.java PROXY_HOST PROXY_PORT METHOD URL [FORM_BODY]
//
// With STREAM_BODY=1 in the environment the body is an InputStream of unknown
// length (chunked over HTTP/1.1). Prints the status code on the first line,
// the protocol on the second, then the body.
import java.io.ByteArrayInputStream;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

public class Fetch {
    public static void main(String[] args) throws Exception {
        String proxyHost = args[0];
        int proxyPort = Integer.parseInt(args[1]);
        String method = args[2];
        URI uri = URI.create(args[3]);
        HttpClient client = HttpClient.newBuilder()
                .proxy(ProxySelector.of(new InetSocketAddress(proxyHost, proxyPort)))
                .connectTimeout(Duration.ofSeconds(60))
                .build();
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(80));
        if (args.length > 4) {
            byte[] body = args[4].getBytes(StandardCharsets.UTF_8);
            HttpRequest.BodyPublisher publisher = "1".equals(System.getenv("STREAM_BODY"))
                    ? HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))
                    : HttpRequest.BodyPublishers.ofByteArray(body);
            request.header("Content-Type", "application/x-www-form-urlencoded").method(method, publisher);
        } else {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        }
        HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode());
        System.out.println(response.version());
        System.out.print(response.body());
    }
}
