// Texts of the Video wall view.
export default {
  vi: {
    'wall.layout': 'Bố cục', 'wall.cameras': 'Camera', 'wall.empty': 'Chọn camera từ danh sách',
    'wall.behind': 'trễ {s} s', 'wall.offline': 'Mất kết nối', 'wall.unsupported': 'Trình duyệt này không phát được {codec}', 'wall.full': 'Toàn màn hình',
    'wall.close': 'Đóng', 'wall.nodistrict': '(chưa rõ quận/huyện)', 'wall.back30': 'Xem lại 30 s trước',
    'status.recording': 'đang ghi', 'status.offline': 'mất kết nối', 'status.connecting': 'đang kết nối',
    'status.disabled': 'tắt',
  },
  en: {
    'wall.layout': 'Layout', 'wall.cameras': 'Cameras', 'wall.empty': 'Pick a camera from the list',
    'wall.behind': '{s} s behind', 'wall.offline': 'Offline', 'wall.unsupported': 'This browser cannot play {codec}', 'wall.full': 'Full screen',
    'wall.close': 'Close', 'wall.nodistrict': '(no district)', 'wall.back30': 'Back 30 s',
    'status.recording': 'recording', 'status.offline': 'offline', 'status.connecting': 'connecting',
    'status.disabled': 'disabled',
  },
};
