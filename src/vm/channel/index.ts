// The host side of the host↔agent channel.
export { Channel, type ChannelOptions } from './client';
export {
  PROTOCOL_VERSION, MAX_PLAN, MAX_GUEST_PAYLOAD, MAX_HOST_PAYLOAD, MAX_STDIN_CHUNK, MAX_GUEST_TEXT, encodeHostMessage, decodeGuestMessage,
  GuestFrameReader, ProtocolError, checkAllowed, FILE_BYTES_MAX, type GuestFile, type GuestMessage, type HostMessage, type GuestPhase,
} from './protocol';
