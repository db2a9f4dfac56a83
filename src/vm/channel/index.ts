// The host side of the host↔agent channel.
export { Channel, type ChannelOptions } from './client';
export {
  PROTOCOL_VERSION, MAX_GUEST_PAYLOAD, MAX_HOST_PAYLOAD, encodeHostMessage, decodeGuestMessage, GuestFrameReader, ProtocolError,
  type GuestMessage, type HostMessage, type GuestPhase,
} from './protocol';
