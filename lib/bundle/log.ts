// How bundling reports progress: the caller's logger, called with magicpak 1.4.0's levels.

export type LogLevel = "Off" | "Error" | "Warn" | "Info" | "Debug";
export type Logger = (level: Exclude<LogLevel, "Off">, message: string) => void;
