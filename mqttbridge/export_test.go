package mqttbridge

// Dial is the bridge's dialer, for the benchmark's simulated trackers:
// they stand for devices elsewhere, so they should cost this machine as
// little as they can.
var Dial = dial
