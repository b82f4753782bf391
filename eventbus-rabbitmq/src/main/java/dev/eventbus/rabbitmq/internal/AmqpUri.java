package dev.eventbus.rabbitmq.internal;

import dev.eventbus.ConfigException;
import dev.eventbus.rabbitmq.RabbitMqConfig;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * The parts of an {@code amqp[s]://user:password@host:port/vhost} URI. A URI ending in {@code /} (or without a path)
 * means the default virtual host {@code /} (amqp-client itself would read it as the empty vhost, which never exists);
 * {@code %2F} also means {@code /}. A bad URI fails naming {@link RabbitMqConfig#URI} without showing the password.
 *
 * @param port null when the URI names none (the default depends on TLS)
 */
public record AmqpUri(String host, Integer port, String username, String password, String virtualHost, boolean tls) {

    /** What no URI at all means: the local broker with the guest user. */
    public static final AmqpUri DEFAULT = new AmqpUri("localhost", null, "guest", "guest", "/", false);

    /** @throws ConfigException naming {@link RabbitMqConfig#URI} */
    public static AmqpUri parse(String uri) {
        URI parsed;
        try {
            parsed = new URI(uri.trim());
        } catch (URISyntaxException e) {
            throw new ConfigException(RabbitMqConfig.URI, redacted(uri), "a URI like amqp://user:password@host:5672/vhost");
        }
        String scheme = parsed.getScheme() == null ? "" : parsed.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("amqp") && !scheme.equals("amqps")) {
            throw new ConfigException(RabbitMqConfig.URI, redacted(uri), "a URI starting with amqp:// or amqps://");
        }
        if (parsed.getHost() == null || parsed.getHost().isBlank()) {
            throw new ConfigException(RabbitMqConfig.URI, redacted(uri), "a URI with a host, like amqp://user:password@host:5672/vhost");
        }
        String user = DEFAULT.username;
        String password = DEFAULT.password;
        String info = parsed.getRawUserInfo();
        if (info != null) {
            int colon = info.indexOf(':');
            user = decode(colon < 0 ? info : info.substring(0, colon));
            password = colon < 0 ? password : decode(info.substring(colon + 1));
        }
        String vhost = DEFAULT.virtualHost;
        String path = parsed.getRawPath();
        if (path != null && path.length() > 1) {
            vhost = decode(path.substring(1));
        }
        return new AmqpUri(parsed.getHost(), parsed.getPort() < 0 ? null : parsed.getPort(), user, password, vhost,
                scheme.equals("amqps"));
    }

    /** The URI with any password replaced by {@code ***}, for messages. */
    public static String redacted(String uri) {
        return uri.replaceAll("(://[^:/@]*:)[^@/]*@", "$1***@");
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return "AmqpUri{" + (tls ? "amqps" : "amqp") + "://" + username + "@" + host + ":" + port + "/" + virtualHost + "}";
    }
}
