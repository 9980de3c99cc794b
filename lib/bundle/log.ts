// How bundling reports progress: the caller's logger, called with magicpak 1.4.0's levels.

export const LOG_LEVELS = ["Off", "Error", "Warn", "Info", "Debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type Logger = (level: Exclude<LogLevel, "Off">, message: string) => void;
