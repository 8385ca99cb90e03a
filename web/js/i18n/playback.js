// Texts of the Playback view.
export default {
  vi: {
    'pb.cameras': 'Camera', 'pb.filter': 'lọc theo tên, mã, quận/huyện', 'pb.max': 'Tối đa {n} camera cùng lúc',
    'pb.pick': 'Chọn tối đa 4 camera từ danh sách', 'pb.play': 'Phát', 'pb.pause': 'Tạm dừng',
    'pb.prevFrame': 'Lùi một khung hình', 'pb.nextFrame': 'Tới một khung hình', 'pb.speed': 'Tốc độ',
    'pb.goto': 'Đến lúc', 'pb.zoomIn': 'Phóng to dòng thời gian', 'pb.zoomOut': 'Thu nhỏ dòng thời gian',
    'pb.earlier': 'Sớm hơn', 'pb.later': 'Muộn hơn', 'pb.hours': '{n} giờ', 'pb.minutes': '{n} phút',
    'pb.norec': 'Không có bản ghi', 'pb.loading': 'Đang tải…', 'pb.failed': 'Không phát được đoạn ghi',
    'pb.unsupported': 'Trình duyệt này không giải mã được {codec}',
    'pb.gap': 'khoảng trống', 'pb.noactivity': 'mức hoạt động không khả dụng',
    'pb.timeline': 'Bấm hoặc kéo để tua; cuộn để phóng to/thu nhỏ. Xanh: đã ghi, đỏ: khoảng trống, cam: mức hoạt động, vạch xanh dương: sự kiện',
    'pb.status.recording': 'đang ghi', 'pb.status.offline': 'mất kết nối', 'pb.status.connecting': 'đang kết nối',
    'pb.status.disabled': 'tắt',
  },
  en: {
    'pb.cameras': 'Cameras', 'pb.filter': 'filter by name, id, district', 'pb.max': 'At most {n} cameras at once',
    'pb.pick': 'Pick up to 4 cameras from the list', 'pb.play': 'Play', 'pb.pause': 'Pause',
    'pb.prevFrame': 'Previous frame', 'pb.nextFrame': 'Next frame', 'pb.speed': 'Speed',
    'pb.goto': 'Go to', 'pb.zoomIn': 'Zoom the timeline in', 'pb.zoomOut': 'Zoom the timeline out',
    'pb.earlier': 'Earlier', 'pb.later': 'Later', 'pb.hours': '{n} h', 'pb.minutes': '{n} min',
    'pb.norec': 'No recording', 'pb.loading': 'Loading…', 'pb.failed': 'Cannot play this recording',
    'pb.unsupported': 'This browser cannot decode {codec}',
    'pb.gap': 'gap', 'pb.noactivity': 'activity unavailable',
    'pb.timeline': 'Click or drag to seek; wheel to zoom. Green: recorded, red: gap, orange: activity, blue marks: events',
    'pb.status.recording': 'recording', 'pb.status.offline': 'offline', 'pb.status.connecting': 'connecting',
    'pb.status.disabled': 'disabled',
  },
};
