package dev.eventbus;

import dev.eventbus.spi.MessageHeaders;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Warns, once per name, about a header that the transports send as a CloudEvents extension (lower-case letters
 * and digits) but whose name is longer than the {@value MessageHeaders#MAX_EXTENSION_NAME_LENGTH} characters
 * CloudEvents allows: it still travels, but other CloudEvents consumers may refuse the event. Thread-safe.
 */
final class ExtensionNames {

    private static final Logger log = LoggerFactory.getLogger(ExtensionNames.class);
    /** Names already warned about; bounded so that generated names cannot grow it without end. */
    private static final Set<String> WARNED = ConcurrentHashMap.newKeySet();
    private static final int WARNED_LIMIT = 256;

    private ExtensionNames() {
    }

    /** True when a transport sends {@code name} as a CloudEvents extension: lower-case ASCII letters and digits. */
    static boolean isExtensionName(String name) {
        return MessageHeaders.isExtensionName(name);
    }

    /** @return whether {@code name} is an over-long extension name (logged the first time it is seen) */
    static boolean check(String name) {
        if (name.length() <= MessageHeaders.MAX_EXTENSION_NAME_LENGTH || !isExtensionName(name)) {
            return false;
        }
        if (WARNED.size() < WARNED_LIMIT && WARNED.add(name)) {
            log.warn("header '{}' travels as a CloudEvents extension but is {} characters long, more than the {} "
                    + "CloudEvents allows: other CloudEvents consumers may refuse these events (use a shorter name, "
                    + "or a name with a '-' to send it as a plain header)", name, name.length(),
                    MessageHeaders.MAX_EXTENSION_NAME_LENGTH);
        }
        return true;
    }
}
