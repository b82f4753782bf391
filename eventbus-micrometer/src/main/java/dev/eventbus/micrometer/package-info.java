package dev.eventbus.micrometer;
