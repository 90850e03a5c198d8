// Java's HttpClient with nothing but the JVM's defaults: the proxy and the
// trust store come from JAVA_TOOL_OPTIONS (oauth1-proxy exec sets
// -Dhttps.proxyHost/-Dhttps.proxyPort, -Dhttp.nonProxyHosts and
// -Djavax.net.ssl.trustStore), read by the default ProxySelector and SSLContext.
//
//   java EnvFetch.java URL      prints the status code, then the body
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class EnvFetch {
    public static void main(String[] args) throws Exception {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(60)).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(args[0])).timeout(Duration.ofSeconds(80)).build();
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode());
        System.out.print(response.body());
    }
}
