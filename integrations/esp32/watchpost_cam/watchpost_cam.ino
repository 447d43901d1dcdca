// Watchpost camera node for the AI-Thinker ESP32-CAM.
//
// Joins Wi-Fi, announces itself over mDNS as `_watchpost._tcp` (TXT kind=camera, mac, fw, stream,
// snapshot) and serves an MJPEG stream at /stream, a JPEG at /capture and a small page at /.
// Watchpost lists it on its Nodes page and adds it as a camera in one click. See README.md.

#include "esp_camera.h"
#include <ESPmDNS.h>
#include <WebServer.h>
#include <WiFi.h>

// ---- Set these ----
const char *WIFI_SSID = "your-network";
const char *WIFI_PASSWORD = "your-password";
const char *NODE_NAME = "esp32cam-porch";  // also the mDNS host name: esp32cam-porch.local
// -------------------

const char *FIRMWARE_VERSION = "0.1.0";
const char *BOUNDARY = "watchpostframe";

WebServer server(80);

// AI-Thinker ESP32-CAM pins.
#define PWDN_GPIO_NUM 32
#define RESET_GPIO_NUM -1
#define XCLK_GPIO_NUM 0
#define SIOD_GPIO_NUM 26
#define SIOC_GPIO_NUM 27
#define Y9_GPIO_NUM 35
#define Y8_GPIO_NUM 34
#define Y7_GPIO_NUM 39
#define Y6_GPIO_NUM 36
#define Y5_GPIO_NUM 21
#define Y4_GPIO_NUM 19
#define Y3_GPIO_NUM 18
#define Y2_GPIO_NUM 5
#define VSYNC_GPIO_NUM 25
#define HREF_GPIO_NUM 23
#define PCLK_GPIO_NUM 22

bool startCamera() {
  camera_config_t config = {};
  config.ledc_channel = LEDC_CHANNEL_0;
  config.ledc_timer = LEDC_TIMER_0;
  config.pin_d0 = Y2_GPIO_NUM;
  config.pin_d1 = Y3_GPIO_NUM;
  config.pin_d2 = Y4_GPIO_NUM;
  config.pin_d3 = Y5_GPIO_NUM;
  config.pin_d4 = Y6_GPIO_NUM;
  config.pin_d5 = Y7_GPIO_NUM;
  config.pin_d6 = Y8_GPIO_NUM;
  config.pin_d7 = Y9_GPIO_NUM;
  config.pin_xclk = XCLK_GPIO_NUM;
  config.pin_pclk = PCLK_GPIO_NUM;
  config.pin_vsync = VSYNC_GPIO_NUM;
  config.pin_href = HREF_GPIO_NUM;
  config.pin_sccb_sda = SIOD_GPIO_NUM;
  config.pin_sccb_scl = SIOC_GPIO_NUM;
  config.pin_pwdn = PWDN_GPIO_NUM;
  config.pin_reset = RESET_GPIO_NUM;
  config.xclk_freq_hz = 20000000;
  config.pixel_format = PIXFORMAT_JPEG;
  config.frame_size = FRAMESIZE_VGA;  // 640x480: enough for detection, light on Wi-Fi
  config.jpeg_quality = 12;
  config.fb_count = psramFound() ? 2 : 1;
  config.fb_location = psramFound() ? CAMERA_FB_IN_PSRAM : CAMERA_FB_IN_DRAM;
  config.grab_mode = CAMERA_GRAB_LATEST;
  return esp_camera_init(&config) == ESP_OK;
}

void handleCapture() {
  camera_fb_t *frame = esp_camera_fb_get();
  if (!frame) {
    server.send(503, "text/plain", "camera busy");
    return;
  }
  server.sendHeader("Cache-Control", "no-cache");
  server.setContentLength(frame->len);
  server.send(200, "image/jpeg", "");
  server.client().write(frame->buf, frame->len);
  esp_camera_fb_return(frame);
}

// MJPEG: one part per frame until the client goes away. Serves one client at a time.
void handleStream() {
  WiFiClient client = server.client();
  client.printf("HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=%s\r\n"
                "Cache-Control: no-cache\r\n\r\n", BOUNDARY);
  while (client.connected()) {
    camera_fb_t *frame = esp_camera_fb_get();
    if (!frame) {
      delay(10);
      continue;
    }
    client.printf("--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %u\r\n\r\n", BOUNDARY, frame->len);
    client.write(frame->buf, frame->len);
    client.print("\r\n");
    esp_camera_fb_return(frame);
  }
}

void handleRoot() {
  String page = String("<html><body><h1>") + NODE_NAME + "</h1><p>Watchpost camera node " + FIRMWARE_VERSION +
                ", MAC " + WiFi.macAddress() + "</p><img src=\"/capture\"></body></html>";
  server.send(200, "text/html", page);
}

void setup() {
  Serial.begin(115200);
  if (!startCamera()) {
    Serial.println("camera init failed; check the board and its ribbon cable");
    delay(5000);
    ESP.restart();
  }
  WiFi.mode(WIFI_STA);
  WiFi.setHostname(NODE_NAME);
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  while (WiFi.status() != WL_CONNECTED) {
    delay(500);
    Serial.print(".");
  }
  Serial.printf("\nonline at http://%s/\n", WiFi.localIP().toString().c_str());

  server.on("/", handleRoot);
  server.on("/capture", handleCapture);
  server.on("/stream", handleStream);
  server.begin();

  if (MDNS.begin(NODE_NAME)) {
    MDNS.addService("watchpost", "tcp", 80);
    MDNS.addServiceTxt("watchpost", "tcp", "kind", "camera");
    MDNS.addServiceTxt("watchpost", "tcp", "mac", WiFi.macAddress());
    MDNS.addServiceTxt("watchpost", "tcp", "fw", FIRMWARE_VERSION);
    MDNS.addServiceTxt("watchpost", "tcp", "stream", "/stream");
    MDNS.addServiceTxt("watchpost", "tcp", "snapshot", "/capture");
  } else {
    Serial.println("mDNS failed to start; Watchpost will not find this node by itself");
  }
}

void loop() {
  server.handleClient();
  // Rejoin after a Wi-Fi drop; mDNS re-announces on its own once the link is back.
  if (WiFi.status() != WL_CONNECTED) {
    WiFi.reconnect();
    delay(1000);
  }
}
